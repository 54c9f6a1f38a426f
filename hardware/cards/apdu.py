"""APDUs and the exchange rules every transport shares.

`CardChannel` wraps a transport connection (PC/SC or the in-process emulator link) and:
- answers 61xx with GET RESPONSE (00 C0 00 00 xx) until all data is in;
- answers 6Cxx by resending the command with Le = xx;
- reads a transparent file in ≤ 256-byte chunks with 15-bit offsets;
- counts APDUs (for the benchmark) and logs each exchange without its data, so
  neither a PIN nor a card's personal data ever reaches a log.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from hardware.cards.errors import CardUnreadable
from hardware.cards.transport import Connection

log = logging.getLogger(__name__)

INS_NAMES = {0xA4: "SELECT", 0xB0: "READ BINARY", 0x20: "VERIFY", 0xC0: "GET RESPONSE"}
MAX_CHUNK = 256  # short APDU Le; 00 = 256
MAX_OFFSET = 0x7FFF  # READ BINARY P1-P2 offset, 15 bits


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000


def build(cla: int, ins: int, p1: int, p2: int, data: bytes | None = None, le: int | None = None) -> bytes:
    """A short APDU (cases 1–4). `le` 256 is encoded as 00."""
    apdu = bytes([cla, ins, p1, p2])
    if data:
        if len(data) > 255:
            raise ValueError("command data longer than a short APDU allows")
        apdu += bytes([len(data)]) + bytes(data)
    if le is not None:
        if not 1 <= le <= 256:
            raise ValueError("Le must be 1–256")
        apdu += bytes([le & 0xFF])
    return apdu


class CardChannel:
    def __init__(self, connection: Connection):
        self.connection = connection
        self.apdu_count = 0

    def _exchange(self, apdu: bytes, *, secret: bool = False) -> Response:
        raw = self.connection.transmit(apdu)
        self.apdu_count += 1
        if len(raw) < 2:
            raise CardUnreadable("the card answered without a status word")
        resp = Response(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])
        if log.isEnabledFor(logging.DEBUG):
            name = INS_NAMES.get(apdu[1], f"INS {apdu[1]:02X}")
            # Header and lengths only: command data may be a PIN, response data is personal.
            lc = "no data" if len(apdu) <= 5 else ("secret data" if secret else f"{apdu[4]} bytes")
            log.debug("APDU %s %s (%s) -> %04X, %d bytes", name, apdu[:4].hex(" ").upper(), lc,
                      resp.sw, len(resp.data))
        return resp

    def command(self, cla: int, ins: int, p1: int, p2: int, data: bytes | None = None,
                le: int | None = None, *, secret: bool = False) -> Response:
        apdu = build(cla, ins, p1, p2, data, le)
        resp = self._exchange(apdu, secret=secret)
        if resp.sw1 == 0x6C and not secret:
            # Wrong Le: the card says how many bytes it has. Resend once with that Le.
            resp = self._exchange(build(cla, ins, p1, p2, data, resp.sw2 or 256))
        collected = resp.data
        guard = 0
        while resp.sw1 == 0x61:
            # More data waiting (T=0 style): fetch it with GET RESPONSE.
            guard += 1
            if guard > 300:
                raise CardUnreadable("the card kept answering 61xx")
            resp = self._exchange(build(0x00, 0xC0, 0x00, 0x00, le=resp.sw2 or 256))
            collected += resp.data
        return Response(collected, resp.sw)

    # -- commands both cards use ------------------------------------------------------

    def select_aid(self, aid: bytes) -> Response:
        return self.command(0x00, 0xA4, 0x04, 0x0C, aid)

    def select_ef(self, fid: int) -> Response:
        return self.command(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))

    def select_mf(self) -> Response:
        return self.command(0x00, 0xA4, 0x00, 0x00)

    def read_binary(self, offset: int, length: int) -> Response:
        if not 0 <= offset <= MAX_OFFSET:
            raise CardUnreadable("file offset beyond what READ BINARY can address")
        return self.command(0x00, 0xB0, offset >> 8, offset & 0xFF, le=length)

    def verify_status(self, p2: int) -> Response:
        """Empty VERIFY (no Lc, no data): asks the tries left without using one."""
        return self.command(0x00, 0x20, 0x00, p2)

    def verify(self, p2: int, pin: bytes) -> Response:
        return self.command(0x00, 0x20, 0x00, p2, pin, secret=True)

    def read_file(self, first: int = MAX_CHUNK, *, total: Callable[[bytes], int | None],
                  max_size: int = MAX_OFFSET + 1) -> bytes:
        """Read the current EF from offset 0 in ≤ 256-byte chunks.

        `total(data_so_far)` returns the number of bytes that make the content complete
        once it can tell (from a TLV header), or None to keep reading to the end of the file.
        End of file shows as 6282 (with data), 6B00 (offset past the end), or a short answer.
        """
        data = b""
        want = first
        while True:
            resp = self.read_binary(len(data), want)
            if resp.sw == 0x6B00 or (resp.sw1 == 0x6A and resp.sw2 in (0x82, 0x86) and data):
                break  # offset past the end: the file ended exactly at a chunk boundary
            if resp.sw not in (0x9000, 0x6282):
                raise CardUnreadable(f"unexpected status {resp.sw:04X} while reading a file")
            data += resp.data
            if resp.sw == 0x6282 or len(resp.data) < want:
                break  # end of file reached before Le bytes
            needed = total(data)
            if needed is not None and len(data) >= needed:
                break
            remaining = (needed - len(data)) if needed is not None else MAX_CHUNK
            want = max(1, min(MAX_CHUNK, remaining))
            if len(data) >= max_size:
                break
        return data

