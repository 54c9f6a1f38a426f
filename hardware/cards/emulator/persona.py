"""Personas: the people (and card states) our emulated cards carry, one TOML file each.

    card = "mynumber"            # or "licence", or "other" (a card that is neither)
    [person]   name, address, birth_date, sex, … (see personas/*.toml)
    [pin]      value (My Number) / pin1, pin2 (licence), tries, max_tries
    [behaviour] optional answers where real cards differ (engine.Behaviour)

A persona file is never written back: tries used up while an emulator runs are kept in
that process's memory only.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

from core.errors import MadoguchiError
from hardware.cards import licence_layout as L

PERSONA_DIR = Path(__file__).resolve().parent.parent / "personas"
SEX_CODES = {"male": "1", "female": "2", "other": "3", "unknown": "9"}


class PersonaError(MadoguchiError):
    code = "persona_invalid"


@dataclass
class Persona:
    card: str
    name: str = ""
    address: str = ""
    birth_date: date = date(1980, 1, 1)
    # My Number card
    sex_code: str = "1"
    individual_number: str = "000000000000"
    expiry: date = date(2035, 1, 1)
    security_code: str = "0000"
    pin: str = "0000"
    verification_tries: int = 10
    filler: int = 0
    # driver's licence
    kana: str | None = None
    alias: str | None = None
    unified_name: str | None = None
    domicile: str | None = None
    issue_date: date = date(2020, 1, 1)
    reference_number: str = "000000000000"
    licence_number: str = "000000000000"
    colour: str = "一般"
    commission: str = ""
    conditions: list[str] = field(default_factory=list)
    classes: dict[str, date] = field(default_factory=dict)
    changes: list[dict] = field(default_factory=list)
    spec_version: str = "008"
    pin1: str = "0000"
    pin2: str = "0000"
    tries2: int = 3
    pin_set: bool = True
    # both
    tries: int = 3
    max_tries: int = 3
    behaviour: dict = field(default_factory=dict)
    source: str = ""

    def build_card(self):
        if self.card == "mynumber":
            from hardware.cards.emulator import mynumber
            return mynumber.build(self)
        if self.card == "licence":
            from hardware.cards.emulator import licence
            return licence.build(self)
        from hardware.cards.emulator.other import build
        return build(self)


def check_digit(first11: str) -> str:
    """個人番号 check digit (the 12th digit), as the numbering ordinance defines it."""
    digits = [int(c) for c in reversed(first11)]  # P1 is the rightmost of the 11
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(digits, start=1))
    r = total % 11
    return "0" if r <= 1 else str(11 - r)


def _need(table: dict, key: str, kind, where: str):
    if key not in table:
        raise PersonaError(f"{where}: missing key {key}")
    value = table[key]
    if not isinstance(value, kind):
        raise PersonaError(f"{where}: {key} must be {getattr(kind, '__name__', kind)}")
    return value


def from_dict(data: dict, source: str = "<persona>") -> Persona:
    card = data.get("card")
    if card not in ("mynumber", "licence", "other"):
        raise PersonaError(f"{source}: card must be \"mynumber\", \"licence\" or \"other\"")
    person = data.get("person", {})
    pins = data.get("pin", {})
    p = Persona(card=card, source=source)
    behaviour = data.get("behaviour", {})
    from hardware.cards.emulator.engine import Behaviour
    bad = set(behaviour) - {f.name for f in fields(Behaviour)}
    if bad:
        raise PersonaError(f"{source}: unknown [behaviour] keys: {', '.join(sorted(bad))}")
    p.behaviour = dict(behaviour)
    p.tries = pins.get("tries", 3)
    p.max_tries = pins.get("max_tries", 3)
    if not 0 <= p.tries <= p.max_tries <= 15:
        raise PersonaError(f"{source}: [pin] tries must be between 0 and max_tries (≤ 15)")
    if card == "other":
        return p
    where = f"{source} [person]"
    p.name = _need(person, "name", str, where)
    p.address = _need(person, "address", str, where)
    p.birth_date = _need(person, "birth_date", date, where)
    if card == "mynumber":
        sex = str(person.get("sex", "male"))
        p.sex_code = SEX_CODES.get(sex, sex)
        if len(p.sex_code) != 1 or not p.sex_code.isascii():
            raise PersonaError(f"{where}: sex must be male, female, other, unknown or a one-character code")
        p.individual_number = str(_need(person, "individual_number", str, where))
        if not (len(p.individual_number) == 12 and p.individual_number.isdigit()):
            raise PersonaError(f"{where}: individual_number must be 12 digits")
        if check_digit(p.individual_number[:11]) != p.individual_number[11]:
            raise PersonaError(f"{where}: individual_number has a wrong check digit")
        p.expiry = _need(person, "expiry", date, where)
        p.security_code = str(person.get("security_code", "0000"))
        p.filler = int(person.get("filler", 0))
        p.pin = str(_need(pins, "value", str, f"{source} [pin]"))
        p.verification_tries = pins.get("verification_tries", 10)
        _check_pin(p.pin, f"{source} [pin] value")
    else:
        lic = data.get("licence", {})
        for key in ("kana", "alias", "unified_name", "domicile"):
            setattr(p, key, person.get(key))
        wl = f"{source} [licence]"
        p.issue_date = _need(lic, "issue_date", date, wl)
        p.expiry = _need(lic, "expiry", date, wl)
        p.licence_number = _need(lic, "number", str, wl)
        p.reference_number = lic.get("reference_number", p.licence_number)
        p.colour = lic.get("colour", "一般")
        p.commission = _need(lic, "commission", str, wl)
        p.conditions = list(lic.get("conditions", []))[:4]
        p.classes = dict(lic.get("classes", {}))
        unknown = set(p.classes) - set(L.CLASS_NAMES)
        if unknown:
            raise PersonaError(f"{wl}: unknown licence classes: {', '.join(sorted(unknown))}")
        p.changes = [dict(c) for c in data.get("changes", [])]
        for c in p.changes:
            if not isinstance(c.get("date"), date):
                raise PersonaError(f"{source} [[changes]]: each change needs a date")
        p.pin_set = bool(pins.get("pin_set", True))
        p.pin1 = str(pins.get("pin1", "0000"))
        p.pin2 = str(pins.get("pin2", "0000"))
        p.tries2 = pins.get("tries2", p.max_tries)
        if p.pin_set:
            _check_pin(p.pin1, f"{source} [pin] pin1")
            _check_pin(p.pin2, f"{source} [pin] pin2")
    return p


def _check_pin(pin: str, where: str):
    if not (len(pin) == 4 and pin.isdigit() and pin.isascii()):
        raise PersonaError(f"{where}: a PIN is 4 digits")


def resolve(path: str | Path) -> Path:
    """A persona path as given; a relative one may also be relative to the project or be
    the name of a shipped persona."""
    p = Path(path)
    if p.exists():
        return p.resolve()
    if not p.is_absolute():
        from core.config import ROOT
        for candidate in (ROOT / p, PERSONA_DIR / p.name):
            if candidate.exists():
                return candidate.resolve()
    raise PersonaError(f"persona file not found: {path}")


def load(path: str | Path) -> Persona:
    path = resolve(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PersonaError(f"{path}: {e}") from None
    return from_dict(data, str(path))


def shipped() -> list[Path]:
    return sorted(PERSONA_DIR.glob("*.toml"))
