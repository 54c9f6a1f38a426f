"""The card reader: the safety rules around the two card protocols.

- The empty VERIFY tells the tries left and uses none; it comes first, every time.
- Only a PIN the visitor typed is sent (4 digits), once. Never retried.
- With one try left the reader refuses (`LastTryRefused`) unless the caller explicitly
  passes `allow_last_try=True` (a clerk at the counter).
- 個人番号 is read only with `with_individual_number=True`.
- The PIN is not stored, logged or put in any message; each session ends with a card reset.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

from hardware.cards.apdu import CardChannel
from hardware.cards.errors import Blocked, CardUnreadable, InvalidPin, LastTryRefused, UnknownCard
from hardware.cards.licence_layout import DUMMY_PIN
from hardware.cards.model import CardData, TriesLeft
from hardware.cards.protocols import PROTOCOLS, VERIFIED, PinState

log = logging.getLogger(__name__)
_PIN_RE = re.compile(r"[0-9]{4}")


class CardReader:
    """One reader (transport). Thread-safe: operations on one reader run one at a time."""

    def __init__(self, transport):
        self.transport = transport
        self._lock = threading.Lock()
        # Figures of the last operation, for the benchmark and the exchange log's caller.
        self.last_apdu_count = 0
        self.last_seconds = 0.0

    @property
    def name(self) -> str:
        return self.transport.name

    def _detect(self, ch: CardChannel):
        for proto in PROTOCOLS:
            if proto.detect(ch):
                return proto
        raise UnknownCard()

    def _pin_state(self, ch: CardChannel, conn, proto) -> tuple[object, PinState]:
        state = proto.pin_state(ch)
        if state.tries == VERIFIED:
            # Someone left the PIN verified: reset the card so this visitor's session starts
            # closed, and ask again.
            log.info("card PIN was already verified; resetting the card")
            conn.reset()
            proto = self._detect(ch)
            state = proto.pin_state(ch)
            if state.tries == VERIFIED:
                raise CardUnreadable("the card reports its PIN verified even after a reset")
        return proto, state

    def _run(self, operation):
        with self._lock:
            started, ch = time.perf_counter(), None
            try:
                with self.transport.session() as conn:
                    ch = CardChannel(conn)
                    return operation(ch, conn)
            finally:
                self.last_apdu_count = ch.apdu_count if ch else 0
                self.last_seconds = time.perf_counter() - started

    def tries_left(self) -> TriesLeft:
        """Tries left on the card's PIN (the licence's PIN1). Uses no try."""
        def operation(ch, conn):
            proto, state = self._pin_state(ch, conn, self._detect(ch))
            return TriesLeft(proto.kind, state.tries, state.pin_required)
        return self._run(operation)

    def read(self, pin: str, *, allow_last_try: bool = False, with_individual_number: bool = False) -> CardData:
        """Verify the visitor's PIN and read the card's fields.

        Raises WrongPin (.tries_left), LastTryRefused, Blocked, InvalidPin, NoCard, NoReader,
        CardRemoved, UnknownCard.
        """
        def operation(ch, conn):
            proto, state = self._pin_state(ch, conn, self._detect(ch))
            if state.tries == 0:
                raise Blocked(proto.kind)
            if state.tries == 1 and not allow_last_try:
                raise LastTryRefused(proto.kind)
            if state.pin_required:
                if not isinstance(pin, str) or not _PIN_RE.fullmatch(pin):
                    raise InvalidPin()
                proto.verify(ch, pin.encode("ascii"))
            else:
                # A licence issued without a PIN opens with its published dummy PIN.
                proto.verify(ch, DUMMY_PIN)
            fields = proto.read(ch, with_individual_number=with_individual_number)
            # A correct PIN resets the counter to the card's maximum.
            return CardData(card=proto.kind, tries_left=proto.max_tries, **fields)
        return self._run(operation)


class EmulatedReader(CardReader):
    """The "emulated" reader: the direct transport to an in-process emulated card.

    `insert(persona_path)` / `remove()` simulate a visitor putting a card down and taking
    it away; a `CardMonitor` on the same config hears about it.
    """

    def __init__(self, slot):
        from hardware.cards.direct import DirectTransport
        super().__init__(DirectTransport(slot))
        self.slot = slot

    def insert(self, persona_path: str | Path):
        self.slot.insert(persona_path)

    def remove(self):
        self.slot.remove()

    @property
    def card_present(self) -> bool:
        return self.slot.card is not None


def open_reader(config) -> CardReader:
    """The reader [devices].card_reader names: "pcsc" or "emulated"."""
    devices = config.devices
    if devices.card_reader == "emulated":
        from hardware.cards import direct
        persona = devices.emulator_persona or None
        if persona and config.path(persona).exists():
            persona = config.path(persona)
        return EmulatedReader(direct.slot(direct.DEFAULT_SLOT, persona))
    from hardware.cards.transport import PcscTransport
    return CardReader(PcscTransport(devices.card_reader_name))


def reader_status(config) -> str:
    """"ready" when the configured reader is there (a card on it or not), else why not:
    "no_reader" (pcscd runs but has no matching reader) or "no_service" (pcscd is down).
    Uses no PIN try and does not touch the card."""
    if config.devices.card_reader == "emulated":
        return "ready"
    from hardware.cards.errors import NoReader
    from hardware.cards.transport import list_readers, matching
    try:
        readers = list_readers()
    except NoReader:
        return "no_service"
    return "ready" if matching(readers, config.devices.card_reader_name) else "no_reader"

