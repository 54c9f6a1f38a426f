"""Card errors. Each has a stable `code` the kiosk turns into words in the visitor's language.

Messages are for logs and the CLI: they never contain a PIN or personal data.
"""
from __future__ import annotations

from core.errors import MadoguchiError


class CardError(MadoguchiError):
    code = "card_error"
    # Set by the errors that know them (WrongPin, LastTryRefused, Blocked).
    card: str | None = None
    tries_left: int | None = None


class WrongPin(CardError):
    """The PIN was wrong; the card counted it. `tries_left` is what remains (≥ 1)."""

    code = "wrong_pin"

    def __init__(self, tries_left: int, card: str | None = None):
        super().__init__(f"wrong PIN: {tries_left} {'try' if tries_left == 1 else 'tries'} left",
                         tries_left=tries_left)
        self.tries_left = tries_left
        self.card = card


class LastTryRefused(CardError):
    """Only one try is left: the reader refused to spend it. Send the visitor to the counter."""

    code = "last_try_refused"

    def __init__(self, card: str | None = None):
        super().__init__("only one PIN try is left: not trying; please go to the counter", tries_left=1)
        self.tries_left = 1
        self.card = card


class Blocked(CardError):
    """The PIN is blocked (no tries left); only the issuing office can unblock it."""

    code = "blocked"

    def __init__(self, card: str | None = None):
        super().__init__("the card's PIN is blocked: it must be reset at the issuing office", tries_left=0)
        self.tries_left = 0
        self.card = card


class InvalidPin(CardError):
    """The PIN typed is not 4 digits; nothing was sent to the card."""

    code = "invalid_pin"

    def __init__(self):
        super().__init__("the PIN must be 4 digits; nothing was sent to the card")


class NoCard(CardError):
    code = "no_card"

    def __init__(self, message: str = "no card on the reader"):
        super().__init__(message)


class NoReader(CardError):
    code = "no_reader"

    def __init__(self, message: str = "no card reader found"):
        super().__init__(message)


class CardRemoved(CardError):
    """The card went away (or stopped answering) during the read."""

    code = "card_removed"

    def __init__(self, message: str = "the card was removed during the read"):
        super().__init__(message)


class CardUnreadable(CardRemoved):
    """The card answered, but not as the specification says (malformed file, odd status word).

    Shares `card_removed`'s code: for the visitor the remedy is the same (put the card
    back and try again, or go to the counter); the log says what was wrong.
    """

    def __init__(self, message: str = "the card's answer could not be read"):
        super().__init__(message)


class UnknownCard(CardError):
    """A card that is neither a My Number card nor a driver's licence."""

    code = "unknown_card"

    def __init__(self, message: str = "this card is neither a My Number card nor a driver's licence"):
        super().__init__(message)


# Exit codes of `madoguchi card read` / `card tries` per error code.
EXIT_CODES = {
    "wrong_pin": 2,
    "last_try_refused": 3,
    "blocked": 4,
    "no_card": 5,
    "no_reader": 5,
    "card_removed": 6,
    "unknown_card": 6,
    "invalid_pin": 7,
}
