"""Card insert/remove events on a queue the kiosk consumes.

    monitor = CardMonitor(config)
    event = monitor.events.get()     # {"type": "inserted" | "removed", "reader": "…"}
    monitor.stop()

A card already on the reader when the monitor starts is reported as "inserted".

PC/SC: one thread waits in pyscard's SCardGetStatusChange (with the PnP pseudo-reader,
so readers plugged in later are watched too); `stop()` wakes it at once with
SCardCancel. pyscard's own CardMonitor is not used: it is a process-wide singleton whose
thread cannot be stopped promptly and gives up for good when pcscd restarts; this one
reconnects when pcscd comes back.

Emulated: the monitor listens to the in-process slot that `EmulatedReader.insert()` and
`.remove()` change.
"""
from __future__ import annotations

import logging
import queue
import threading

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"


class CardMonitor:
    def __init__(self, config, *, reader_name: str | None = None, wait_ms: int = 2000):
        self.events: queue.Queue[dict] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._slot = None
        devices = config.devices
        if devices.card_reader == "emulated":
            from hardware.cards.reader import open_reader
            self._slot = open_reader(config).slot
            self._slot.subscribe(self._on_slot)
            if self._slot.card is not None:
                self.events.put({"type": "inserted", "reader": self._slot.name})
            return
        self.reader_name = devices.card_reader_name if reader_name is None else reader_name
        self._wait_ms = wait_ms
        self._ctx = None
        self._ctx_lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="card-monitor", daemon=True)
        self._thread.start()

    # -- emulated ---------------------------------------------------------------------
    def _on_slot(self, event: dict):
        if not self._stop.is_set():
            self.events.put(dict(event))

    # -- PC/SC ------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 5.0) -> bool:
        """True once the monitor has seen the readers' state (or is emulated)."""
        return self._thread is None or self._ready.wait(timeout)

    def _emit(self, kind: str, reader: str):
        self.events.put({"type": kind, "reader": reader})

    def _run(self):
        try:
            from smartcard import scard
        except ImportError as e:  # pyscard or libpcsclite missing: nothing to watch
            log.error("card monitor: PC/SC is not available (%s)", e)
            self._ready.set()
            return
        from hardware.cards.transport import matching
        present: dict[str, bool] = {}
        while not self._stop.is_set():
            hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                self._ready.set()  # nothing to watch yet; the state is "no reader"
                self._stop.wait(1.0)
                continue
            with self._ctx_lock:
                self._ctx = ctx
            try:
                self._watch(scard, ctx, present, matching)
            finally:
                with self._ctx_lock:
                    self._ctx = None
                scard.SCardReleaseContext(ctx)
            if not self._stop.is_set():
                # pcscd went away: whatever was on its readers is gone for us.
                for reader, was in list(present.items()):
                    if was:
                        self._emit("removed", reader)
                present.clear()
                self._stop.wait(1.0)

    def _watch(self, scard, ctx, present: dict[str, bool], matching):
        def reader_list():
            hresult, readers = scard.SCardListReaders(ctx, [])
            if hresult != scard.SCARD_S_SUCCESS:
                readers = []
            return matching(list(readers), self.reader_name)

        readers = reader_list()
        states = {r: scard.SCARD_STATE_UNAWARE for r in readers}
        pnp_state = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            request = [(r, s) for r, s in states.items()] + [(PNP_READER, pnp_state)]
            hresult, result = scard.SCardGetStatusChange(ctx, self._wait_ms, request)
            if hresult == scard.SCARD_E_TIMEOUT:
                self._ready.set()
                continue
            if hresult == scard.SCARD_E_CANCELLED:
                return
            if hresult != scard.SCARD_S_SUCCESS:
                if hresult not in (scard.SCARD_E_NO_SERVICE, getattr(scard, "SCARD_E_SERVICE_STOPPED", -1),
                                   scard.SCARD_F_COMM_ERROR,  # pcscd went away mid-wait
                                   scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
                    log.warning("card monitor: SCardGetStatusChange failed (0x%08X)", hresult & 0xFFFFFFFF)
                    self._stop.wait(0.5)
                if hresult in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
                    self._refresh(readers, reader_list(), states, present)
                    readers = list(states)
                    continue
                return
            reader_change = False
            for name, event_state, _atr in result:
                if name == PNP_READER:
                    if event_state & scard.SCARD_STATE_CHANGED:
                        reader_change = pnp_state != scard.SCARD_STATE_UNAWARE
                    pnp_state = event_state & ~scard.SCARD_STATE_CHANGED
                    continue
                states[name] = event_state & ~scard.SCARD_STATE_CHANGED
                if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    reader_change = True
                now = bool(event_state & scard.SCARD_STATE_PRESENT)
                if now != present.get(name, False):
                    present[name] = now
                    self._emit("inserted" if now else "removed", name)
            self._ready.set()
            if reader_change:
                self._refresh(readers, reader_list(), states, present)
                readers = list(states)

    def _refresh(self, old: list[str], new: list[str], states: dict, present: dict):
        from smartcard import scard
        for gone in set(old) - set(new):
            states.pop(gone, None)
            if present.pop(gone, False):
                self._emit("removed", gone)
        for added in new:
            states.setdefault(added, scard.SCARD_STATE_UNAWARE)

    # -- both -------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0):
        """Stop watching; returns when the monitor thread has ended."""
        self._stop.set()
        if self._slot is not None:
            self._slot.unsubscribe(self._on_slot)
            return
        with self._ctx_lock:
            if self._ctx is not None:
                from smartcard import scard
                scard.SCardCancel(self._ctx)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._slot is not None and not self._stop.is_set() or bool(self._thread and self._thread.is_alive())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
