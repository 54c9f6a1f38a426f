"""What a card read gives back."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from hardware.cards.jisx0208 import Gaiji

MYNUMBER = "mynumber"
LICENCE = "licence"


@dataclass(frozen=True)
class TriesLeft:
    card: str  # "mynumber" | "licence"
    tries: int  # 0 = blocked
    pin_required: bool = True  # False: a licence issued without a PIN (the card's dummy PIN is used)

    @property
    def blocked(self) -> bool:
        return self.tries == 0

    def as_dict(self) -> dict:
        return {"card": self.card, "tries_left": self.tries, "tries": self.tries,
                "blocked": self.blocked, "pin_required": self.pin_required}


@dataclass(frozen=True, repr=False)
class CardData:
    """The fields read from a card.

    `name` keeps every character exactly (髙, 﨑, 𠮷); surname and given name are separated
    by U+3000. Characters the card cannot give as text (licence 外字) appear as 〓 and are
    listed in `gaiji`. `repr()` shows no personal data, so a stray log line leaks nothing.
    """

    card: str
    name: str
    address: str
    birth_date: date
    sex: str  # "male" | "female" | "unknown" (a licence has no sex field: "unknown")
    tries_left: int
    kana: str | None = None
    address_at_issue: str | None = None  # licence: the address printed at issue, when a later change exists
    gaiji: list[Gaiji] = field(default_factory=list)
    expiry: date | None = None  # licence: 有効期間の末日
    name_at_issue: str | None = None  # licence: the name at issue, when a later change exists
    individual_number: str | None = None  # 個人番号: only when asked for explicitly

    @property
    def surname(self) -> str:
        return self.name.split("\u3000", 1)[0]

    @property
    def given_name(self) -> str:
        parts = self.name.split("\u3000", 1)
        return parts[1] if len(parts) > 1 else ""

    def __repr__(self) -> str:
        return (f"CardData(card={self.card!r}, tries_left={self.tries_left}, fields=<hidden>, "
                f"gaiji={len(self.gaiji)}, individual_number={'<read>' if self.individual_number else None})")

    def as_dict(self) -> dict:
        """The JSON shape `madoguchi card read` prints."""
        out = {"card": self.card, "name": self.name, "address": self.address,
               "birth_date": self.birth_date.isoformat(), "sex": self.sex, "tries_left": self.tries_left}
        if self.kana is not None:
            out["kana"] = self.kana
        if self.address_at_issue is not None:
            out["address_at_issue"] = self.address_at_issue
        if self.name_at_issue is not None:
            out["name_at_issue"] = self.name_at_issue
        if self.expiry is not None:
            out["expiry"] = self.expiry.isoformat()
        if self.gaiji:
            out["gaiji"] = [g.as_dict() for g in self.gaiji]
        if self.individual_number is not None:
            out["individual_number"] = self.individual_number
        return out
