"""The direct transport: an emulated card in this process, no pcscd needed.

An `EmulatedSlot` is a reader slot that can hold one emulated card. `insert(persona)` and
`remove()` simulate a visitor putting a card down and taking it away; listeners (the
`CardMonitor`) hear about it. Slots are per process and looked up by name, so the kiosk's
reader and its monitor see the same card.

A card's state (tries left, blocked) lives in this process's memory: taking a card away
and putting the same persona back gives back the same card, with its counters; a new
process starts again from the persona file.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from hardware.cards.emulator import persona as personas
from hardware.cards.emulator.engine import Card
from hardware.cards.errors import CardRemoved, NoCard

DEFAULT_SLOT = "Emulated card reader"


class EmulatedSlot:
    def __init__(self, name: str = DEFAULT_SLOT):
        self.name = name
        self._lock = threading.RLock()
        self._card: Card | None = None
        self._cards: dict[Path, Card] = {}  # persona path → its card, so counters survive remove/insert
        self._listeners: list[Callable[[dict], None]] = []
        # Called with each APDU before the card sees it (tests use it to pull the card mid-read).
        self.apdu_hooks: list[Callable[[bytes], None]] = []

    @property
    def card(self) -> Card | None:
        return self._card

    def insert(self, card_or_persona: Card | str | Path) -> Card:
        """Put a card on the reader: a Card, or a persona file (the same file = the same card)."""
        with self._lock:
            if isinstance(card_or_persona, Card):
                card = card_or_persona
            else:
                path = personas.resolve(card_or_persona)
                card = self._cards.get(path)
                if card is None:
                    card = self._cards[path] = personas.load(path).build_card()
            if self._card is not None:
                self._remove_locked()
            card.reset()
            self._card = card
        self._notify("inserted")
        return card

    def remove(self) -> None:
        with self._lock:
            if self._card is None:
                return
            self._remove_locked()
        self._notify("removed")

    def _remove_locked(self):
        self._card = None

    def subscribe(self, listener: Callable[[dict], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[dict], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, kind: str):
        for listener in list(self._listeners):
            listener({"type": kind, "reader": self.name})

    def forget(self):
        """Drop every card (and its counters); used between tests."""
        with self._lock:
            self._card = None
            self._cards.clear()
            self.apdu_hooks.clear()


class DirectConnection:
    def __init__(self, slot: EmulatedSlot, card: Card):
        self.slot, self.card = slot, card

    def transmit(self, apdu: bytes) -> bytes:
        for hook in list(self.slot.apdu_hooks):
            hook(apdu)
        if self.slot.card is not self.card:
            raise CardRemoved()
        return self.card.process(apdu)

    def reset(self) -> None:
        if self.slot.card is not self.card:
            raise CardRemoved()
        self.card.reset()


class DirectTransport:
    def __init__(self, slot: EmulatedSlot):
        self.slot = slot
        self.name = slot.name

    @contextlib.contextmanager
    def session(self) -> Iterator[DirectConnection]:
        card = self.slot.card
        if card is None:
            raise NoCard()
        card.reset()  # as a PC/SC connect powers the card up
        try:
            yield DirectConnection(self.slot, card)
        finally:
            card.reset()


_slots: dict[str, EmulatedSlot] = {}
_slots_lock = threading.Lock()


def slot(name: str = DEFAULT_SLOT, persona: str | Path | None = None) -> EmulatedSlot:
    """The process-wide slot called `name`; created with `persona` inserted the first time."""
    with _slots_lock:
        s = _slots.get(name)
        if s is None:
            s = EmulatedSlot(name)
            if persona:
                s.insert(persona)
            _slots[name] = s
        return s


def forget_all():
    """Forget every emulated slot and card in this process (test isolation)."""
    with _slots_lock:
        for s in _slots.values():
            s.forget()
        _slots.clear()
