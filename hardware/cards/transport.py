"""Transports: how APDUs reach a card. One small interface, two implementations.

- `PcscTransport`: PC/SC through pyscard and pcscd (a real reader, or vpcd with our
  emulator behind it).
- `DirectTransport` (hardware.cards.direct): an in-process link to an emulated card, for
  the embedded default where pcscd may be absent.

A session is one connection for one operation (a tries check, or a full read). It ends
with a card reset, so a verified PIN never stays open for the next program or visitor.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Protocol

from hardware.cards.errors import CardRemoved, CardUnreadable, NoCard, NoReader

log = logging.getLogger(__name__)


class Connection(Protocol):
    def transmit(self, apdu: bytes) -> bytes:
        """Send one APDU, return the response with its status word."""

    def reset(self) -> None:
        """Warm-reset the card (drops its security state) and carry on in the same session."""


class Transport(Protocol):
    name: str

    def session(self) -> contextlib.AbstractContextManager[Connection]: ...


def _scard():
    try:
        from smartcard import scard
    except ImportError as e:  # pyscard missing or libpcsclite absent
        raise NoReader(f"PC/SC is not available: {e}") from None
    return scard


class PcscConnection:
    def __init__(self, scard, hcard, protocol, reader: str):
        self._scard, self.hcard, self.protocol, self.reader = scard, hcard, protocol, reader

    def transmit(self, apdu: bytes) -> bytes:
        s = self._scard
        hresult, response = s.SCardTransmit(self.hcard, self.protocol, list(apdu))
        if hresult != s.SCARD_S_SUCCESS:
            raise _transmit_error(s, hresult)
        if len(response) < 2:
            # vpcd (and some readers) hand back nothing when the card left mid-command.
            raise CardRemoved("the card stopped answering during the read")
        return bytes(response)

    def reset(self) -> None:
        s = self._scard
        s.SCardEndTransaction(self.hcard, s.SCARD_LEAVE_CARD)
        hresult, self.protocol = s.SCardReconnect(self.hcard, s.SCARD_SHARE_SHARED,
                                                  s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1, s.SCARD_RESET_CARD)
        if hresult != s.SCARD_S_SUCCESS:
            raise _transmit_error(s, hresult)
        hresult = s.SCardBeginTransaction(self.hcard)
        if hresult != s.SCARD_S_SUCCESS:
            raise _transmit_error(s, hresult)


def _message(scard, hresult) -> str:
    try:
        return scard.SCardGetErrorMessage(hresult).strip()
    except Exception:  # noqa: BLE001 - only for the message
        return f"0x{hresult & 0xFFFFFFFF:08X}"


def _transmit_error(scard, hresult):
    reader_gone = {scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_NO_SERVICE,
                   getattr(scard, "SCARD_E_SERVICE_STOPPED", -1)}
    if hresult in reader_gone:
        return NoReader(f"the card reader went away during the read ({_message(scard, hresult)})")
    if hresult in (getattr(scard, "SCARD_W_UNRESPONSIVE_CARD", -1), getattr(scard, "SCARD_W_UNPOWERED_CARD", -1)):
        return CardUnreadable(f"the card does not respond ({_message(scard, hresult)})")
    # SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD, SCARD_W_RESET_CARD, SCARD_E_NOT_TRANSACTED,
    # comm errors: the card is no longer the one we were talking to.
    return CardRemoved(f"the card was removed during the read ({_message(scard, hresult)})")


def list_readers(scard=None) -> list[str]:
    """PC/SC reader names; raises NoReader when pcscd is not running."""
    scard = scard or _scard()
    with _context(scard) as ctx:
        return _readers(scard, ctx)


@contextlib.contextmanager
def _context(scard):
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise NoReader(f"the PC/SC service (pcscd) is not available ({_message(scard, hresult)})")
    try:
        yield ctx
    finally:
        scard.SCardReleaseContext(ctx)


def _readers(scard, ctx) -> list[str]:
    hresult, readers = scard.SCardListReaders(ctx, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE or (hresult == scard.SCARD_S_SUCCESS and not readers):
        return []
    if hresult != scard.SCARD_S_SUCCESS:
        raise NoReader(f"cannot list card readers ({_message(scard, hresult)})")
    return list(readers)


def matching(readers: list[str], wanted: str) -> list[str]:
    """Readers whose name contains `wanted` (all when it is empty), exact matches first."""
    if not wanted:
        return list(readers)
    exact = [r for r in readers if r == wanted]
    return exact + [r for r in readers if wanted.lower() in r.lower() and r != wanted]


class PcscTransport:
    """PC/SC. `reader_name` ("" = any) picks, among matching readers, the first holding a card."""

    def __init__(self, reader_name: str = ""):
        self.reader_name = reader_name
        self.name = reader_name or "PC/SC"

    def _pick(self, scard, ctx) -> str:
        readers = matching(_readers(scard, ctx), self.reader_name)
        if not readers:
            raise NoReader(f"no card reader found{' matching ' + repr(self.reader_name) if self.reader_name else ''}")
        states = [(r, scard.SCARD_STATE_UNAWARE) for r in readers]
        hresult, states = scard.SCardGetStatusChange(ctx, 0, states)
        if hresult != scard.SCARD_S_SUCCESS:
            raise NoReader(f"cannot read the card reader's state ({_message(scard, hresult)})")
        for reader, state, _atr in states:
            if state & scard.SCARD_STATE_PRESENT and not state & scard.SCARD_STATE_MUTE:
                return reader
        if any(state & scard.SCARD_STATE_MUTE for _r, state, _a in states):
            raise CardUnreadable("the card on the reader does not answer")
        raise NoCard()

    @contextlib.contextmanager
    def session(self) -> Iterator[PcscConnection]:
        scard = _scard()
        with _context(scard) as ctx:
            reader = self._pick(scard, ctx)
            hresult, hcard, protocol = scard.SCardConnect(ctx, reader, scard.SCARD_SHARE_SHARED,
                                                          scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            if hresult in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD):
                raise NoCard()
            if hresult != scard.SCARD_S_SUCCESS:
                raise _transmit_error(scard, hresult)
            try:
                hresult = scard.SCardBeginTransaction(hcard)
                if hresult != scard.SCARD_S_SUCCESS:
                    raise _transmit_error(scard, hresult)
                self.name = reader
                yield PcscConnection(scard, hcard, protocol, reader)
            finally:
                scard.SCardEndTransaction(hcard, scard.SCARD_LEAVE_CARD)
                # Reset: whatever was verified in this session is closed again.
                scard.SCardDisconnect(hcard, scard.SCARD_RESET_CARD)
