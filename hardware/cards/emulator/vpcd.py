"""Put an emulated card behind pcscd through Debian's vsmartcard-vpcd.

vpcd is a PC/SC reader driver that listens on TCP (127.0.0.1:35963 for its first slot,
"Virtual PCD 00 00"). A virtual card connects to it as a client: connecting is putting
the card on the reader, closing the connection is taking it away. Every message is a
2-byte big-endian length and a payload; a 1-byte payload is a control command
(00 power off, 01 power on, 02 reset, 04 "send your ATR"), anything longer is a command
APDU, answered with the response APDU.
"""
from __future__ import annotations

import logging
import socket
import struct
import threading

from hardware.cards.emulator.engine import Card

log = logging.getLogger(__name__)

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def parse_address(text: str | None) -> tuple[str, int]:
    if not text:
        return DEFAULT_HOST, DEFAULT_PORT
    host, _, port = text.rpartition(":")
    if not host:
        host, port = port, str(DEFAULT_PORT)
    return host or DEFAULT_HOST, int(port)


class VpcdLink:
    """One emulated card on one vpcd slot.

    `run()` serves until `stop()`: it (re)connects whenever vpcd is reachable, so the card
    appears as soon as pcscd is up and comes back after pcscd restarts.
    `drop_after` (tests): close the connection after that many APDUs, as if the card were
    pulled off the reader mid-read.
    """

    def __init__(self, card: Card, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                 drop_after: int | None = None, retry_seconds: float = 0.2):
        self.card = card
        self.host, self.port = host, port
        self.drop_after = drop_after
        self.retry_seconds = retry_seconds
        self.apdus = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> VpcdLink:
        self._thread = threading.Thread(target=self.run, name="vpcd-card", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0):
        self._stop.set()
        self._close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _close(self):
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.connected.clear()

    def run(self):
        announced = False
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2)
            except OSError:
                if not announced:
                    log.info("waiting for vpcd on %s:%d (is pcscd running?)", self.host, self.port)
                    announced = True
                self._stop.wait(self.retry_seconds)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stop.is_set():
                    sock.close()
                    return
                self._sock = sock
            log.info("card connected to vpcd on %s:%d", self.host, self.port)
            self.connected.set()
            announced = False
            try:
                self._serve(sock)
            except OSError:
                pass
            finally:
                self._close()
            if self.drop_after is not None:
                return  # a pulled card stays pulled
            if not self._stop.is_set():
                log.info("vpcd closed the connection; reconnecting")
                self._stop.wait(self.retry_seconds)

    # -- protocol -----------------------------------------------------------------------
    def _serve(self, sock: socket.socket):
        while not self._stop.is_set():
            header = _recv_exact(sock, 2)
            if header is None:
                return
            (length,) = struct.unpack(">H", header)
            payload = _recv_exact(sock, length) if length else b""
            if payload is None:
                return
            if length == 1:
                command = payload[0]
                log.debug("vpcd control %02X", command)
                if command == CTRL_ATR:
                    _send(sock, self.card.atr)
                elif command in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                    self.card.reset()
                else:
                    log.warning("vpcd sent unknown control command %02X", command)
                continue
            if self.drop_after is not None and self.apdus >= self.drop_after:
                return  # pulled off the reader: no answer, connection closed
            self.apdus += 1
            _send(sock, self.card.process(payload))


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        # vpcd writes the length and the payload separately; with Nagle on its side and
        # delayed ACKs on ours every exchange would stall ~40 ms. Acknowledge at once
        # (Linux resets the flag after each read, so set it every time).
        if _QUICKACK is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _send(sock: socket.socket, data: bytes):
    sock.sendall(struct.pack(">H", len(data)) + data)
