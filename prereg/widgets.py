"""Reading one question's answer from a posted form, and what to show when it is asked again.

Each catalogue field type has its widget: text inputs, the postal code, an address in two
parts after a postal code (the looked-up part and the rest), a date in 西暦 or 和暦, radios
for choices, yes/no radios for checkboxes. Values are checked with `core.forms.normalise_value`,
so the wizard and the JSON API accept exactly the same things.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.catalogue import Catalogue, FieldDef
from core.clock import today_in_japan
from core.errors import FieldError
from core.forms import normalise_value
from core.japanese import ERAS, WarekiError, era_by_name, from_wareki, lookup_postal_code, parse_typed_number

WESTERN = "western"
ERA_VALUES = [WESTERN] + [e.romaji for e in reversed(ERAS)]   # western, reiwa, heisei, showa, taisho, meiji
DATE_PARTS = ("era", "year", "month", "day")
PAST_ONLY = {"birth_date"}


@dataclass
class Answer:
    """The outcome of reading a posted question."""

    value: Any = None                  # normalised value, or None when empty
    raw: dict[str, str] = field(default_factory=dict)   # what was typed, to show again
    errors: list[FieldError] = field(default_factory=list)
    parts: list[str] | None = None     # address or date parts to remember

    @property
    def ok(self) -> bool:
        return not self.errors


def postal_partner(f: FieldDef, fields: list[FieldDef]) -> str | None:
    """The postal-code field an address field follows: postal_code → address,
    previous_postal_code → previous_address, new_postal_code → new_address."""
    if f.type != "address":
        return None
    name = "postal_code" if f.name == "address" else f.name[: -len("address")] + "postal_code"
    return name if any(x.name == name and x.type == "postal_code" for x in fields) else None


def widget(f: FieldDef, fields: list[FieldDef]) -> str:
    if f.type == "address" and postal_partner(f, fields):
        return "address_parts"
    return {"choice": "radios", "checkbox": "yes_no", "date": "date", "household": "household"}.get(f.type, "input")


def _clean(text: Any) -> str:
    return unicodedata.normalize("NFC", text if isinstance(text, str) else "").strip()


def parse_date_parts(era: str, year: str, month: str, day: str) -> tuple[str | None, str | None]:
    """(ISO date or None, error code or None) from an era select and three number inputs."""
    texts = [unicodedata.normalize("NFKC", x or "").strip() for x in (year, month, day)]
    if not any(texts):
        return None, None
    if not all(texts):
        return None, "date_incomplete"
    nums = [parse_typed_number(x or "", max_digits=4) for x in (year, month, day)]
    if None in nums:
        return None, "bad_date"
    y, m, d = nums
    if era in (None, "", WESTERN):
        try:
            return date(y, m, d).isoformat(), None
        except ValueError:
            return None, "bad_date"
    try:
        e = era_by_name(era)
    except WarekiError:
        return None, "bad_date"
    try:
        date(e.start.year + y - 1, m, d)
    except ValueError:
        return None, "bad_date"
    try:
        return from_wareki(e, y, m, d).isoformat(), None
    except WarekiError:
        return None, "not_in_era"


def read(f: FieldDef, form, catalogue: Catalogue, fields: list[FieldDef], *, max_length: int,
         path: str | None = None, prefix: str = "") -> Answer:
    """Read field `f` from `form` (a MultiDict); input names are `prefix + f.name` (+ `__part`)."""
    name = prefix + f.name
    path = path or f.name
    kind = widget(f, fields)
    ans = Answer()
    if kind == "date":
        ans.raw = {p: _clean(form.get(f"{name}__{p}", ""))[:8] for p in DATE_PARTS}
        iso, code = parse_date_parts(ans.raw["era"], ans.raw["year"], ans.raw["month"], ans.raw["day"])
        if code:
            ans.errors.append(FieldError(path, code, code))
            return ans
        if iso is None:
            return _required(f, ans, path)
        ans.parts = [ans.raw[p] for p in DATE_PARTS]
        value = normalise_value(f, iso, path, ans.errors, catalogue, max_length)
        if value and f.name in PAST_ONLY and date.fromisoformat(value) > today_in_japan():
            ans.errors.append(FieldError(path, "date_in_future", "date_in_future"))
            return ans
        ans.value = value
        return ans
    if kind == "address_parts":
        town, rest = _clean(form.get(f"{name}__town", "")), _clean(form.get(f"{name}__rest", ""))
        ans.raw = {"town": town[:max_length * 2], "rest": rest[:max_length * 2]}
        joined = (town + rest).strip()
        if not joined:
            return _required(f, ans, path)
        ans.parts = [town, rest]
        ans.value = normalise_value(f, joined, path, ans.errors, catalogue, max_length)
        return ans
    raw = _clean(form.get(name, ""))
    ans.raw = {"value": raw[:max_length * 2]}
    if kind == "yes_no":
        if raw not in ("yes", "no"):
            return _required(f, ans, path) if raw == "" else _bad_choice(ans, path)
        ans.value = raw == "yes"
        return ans
    if not raw:
        return _required(f, ans, path)
    if f.type == "number":
        value: Any = parse_typed_number(raw)
        if value is None:
            ans.errors.append(FieldError(path, "not_number", "not_number"))
            return ans
    else:
        value = raw
    ans.value = normalise_value(f, value, path, ans.errors, catalogue, max_length)
    return ans


def _required(f: FieldDef, ans: Answer, path: str) -> Answer:
    if f.required:
        ans.errors.append(FieldError(path, "required", "is required"))
    return ans


def _bad_choice(ans: Answer, path: str) -> Answer:
    ans.errors.append(FieldError(path, "bad_choice", "bad_choice"))
    return ans


def shown(f: FieldDef, value: Any, parts: list[str] | None, fields: list[FieldDef],
          values: dict[str, Any]) -> dict[str, str]:
    """What the inputs of a question show when it is asked again (or first, with defaults)."""
    kind = widget(f, fields)
    if kind == "date":
        if parts and len(parts) == 4:
            iso, _ = parse_date_parts(*parts)
            if iso == value:
                return dict(zip(DATE_PARTS, parts, strict=True))
        if isinstance(value, str) and value:
            d = date.fromisoformat(value)
            return {"era": WESTERN, "year": str(d.year), "month": str(d.month), "day": str(d.day)}
        return {"era": WESTERN, "year": "", "month": "", "day": ""}
    if kind == "address_parts":
        looked_up = lookup_postal_code(values.get(postal_partner(f, fields), "") or "")
        if parts and len(parts) == 2 and (parts[0] + parts[1]).strip() == (value or ""):
            town, rest = parts
            # The postal code was changed since: offer the new town, keep what was typed after it.
            if looked_up and town and town != looked_up.text:
                town = looked_up.text
            return {"town": town, "rest": rest}
        if value:
            if looked_up and value.startswith(looked_up.text):
                return {"town": looked_up.text, "rest": value[len(looked_up.text):]}
            return {"town": "", "rest": value}
        return {"town": looked_up.text if looked_up else "", "rest": ""}
    if kind == "yes_no":
        return {"value": "" if value is None else ("yes" if value else "no")}
    if value is None:
        return {"value": "" if f.default is None or f.type == "choice" else str(f.default)}
    if f.type == "postal_code" and isinstance(value, str) and len(value) == 7:
        return {"value": f"{value[:3]}-{value[3:]}"}
    return {"value": str(value)}
