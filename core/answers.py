"""Reading what a person typed into a question, the same way on every surface.

The prereg wizard, the kiosk's question pages and the counter's correction form post text;
this module turns that text into the JSON form's value (or coded field errors), and
`core.forms.normalise_value` then checks the value itself, as it does for the JSON API.
So a date, a number or a name that one surface accepts, every surface accepts, and a value
one refuses (a birth date in the future, a character no print font has) every one refuses.

What a question posts, by the field's type (`typed` is a mapping of these keys to text):
- date: `era` (western, reiwa, heisei, showa, taisho, meiji, or 令和/R/5…) with `year`,
  `month` and `day` (ASCII or full-width digits; the year of an era may be 元), or one
  `value` such as 1985-04-01, 1985年4月1日, 昭和60年4月1日, 令和元年5月1日 or R1.5.1;
- address: `value`, or `town` (the part looked up from the postal code) and `rest`;
- a name asked in parts (a field with `parts`, as `name` and `kana`): `family` and `given`
  (姓 and 名), joined by one space, or one `value` such as 山田 太郎 (the API, old clients);
- checkbox: `value` yes or no; number: `value` in ASCII or full-width digits;
- everything else: `value`.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.catalogue import MEMBER_QUESTIONS, NAME_PARTS, Catalogue, FieldDef
from core.errors import FieldError
from core.forms import DEFAULT_MAX_LENGTH, HOUSEHOLD_KEYS, normalise_value, relationship
from core.japanese import (
    ERAS,
    NotInEra,
    WarekiError,
    era_by_name,
    fold_width,
    from_wareki,
    normalise_name,
    parse_date,
    parse_typed_number,
    split_name,
    to_katakana,
)

WESTERN = "western"
# The calendar choices of a date question: the Western calendar, then the eras from the newest.
ERA_CHOICES = (WESTERN,) + tuple(e.romaji for e in reversed(ERAS))
DATE_PARTS = ("era", "year", "month", "day")
# The year of an era's first year, as people write it (元年).
FIRST_YEAR = ("元", "元年")


@dataclass
class Answer:
    """One question's answer: the value (None when left empty), what was typed (to show it
    again), its errors, and the parts of a date, an address or a name (to ask it again as typed)."""

    value: Any = None
    raw: dict[str, str] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    parts: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _clean(text: Any) -> str:
    return unicodedata.normalize("NFC", text if isinstance(text, str) else "").strip()


def date_from_parts(era: str | None, year: str, month: str, day: str) -> tuple[str | None, str | None]:
    """(ISO date, None), (None, error code), or (None, None) when all three are empty."""
    texts = [fold_width(x or "").strip(" \t") for x in (year, month, day)]
    if not any(texts):
        return None, None
    if not all(texts):
        return None, "date_incomplete"
    western = era in (None, "", WESTERN)
    if not western and texts[0] in FIRST_YEAR:
        texts[0] = "1"
    numbers = [parse_typed_number(x, max_digits=4) for x in texts]
    if None in numbers:
        return None, "bad_date"
    y, m, d = (n for n in numbers if n is not None)
    if western:
        try:
            return date(y, m, d).isoformat(), None
        except ValueError:
            return None, "bad_date"
    try:
        e = era_by_name(era or "")
    except WarekiError:
        return None, "bad_date"
    try:
        return from_wareki(e, y, m, d).isoformat(), None
    except NotInEra:
        return None, "not_in_era"
    except WarekiError:   # no such day in any calendar (2月30日), or year 0
        return None, "bad_date"


def date_from_text(text: str) -> tuple[str | None, str | None]:
    """A date typed on one line (西暦 or 和暦, as core.japanese.parse_date reads it)."""
    if not text.strip():
        return None, None
    try:
        return parse_date(text).isoformat(), None
    except NotInEra:
        return None, "not_in_era"
    except ValueError:   # WarekiError included
        return None, "bad_date"


def read(f: FieldDef, typed: Mapping[str, str], catalogue: Catalogue, *, path: str | None = None,
         required: bool | None = None, max_length: int = DEFAULT_MAX_LENGTH,
         values: Mapping[str, Any] | None = None) -> Answer:
    """The answer to field `f` from what was typed. An empty answer is an error `required`
    when `required` (default: the field's own flag) is true, else a None value. `values` are
    the other answers, for the checks that depend on them (a 転入日 may not be in the future)."""
    path = path or f.name
    needed = f.required if required is None else required
    if f.type == "date":
        return _read_date(f, typed, catalogue, path, needed, max_length, values)
    return _read_other(f, typed, catalogue, path, needed, max_length)


def _read_date(f: FieldDef, typed: Mapping[str, str], catalogue: Catalogue, path: str, needed: bool,
               max_length: int, values: Mapping[str, Any] | None) -> Answer:
    ans = Answer()
    if any(k in typed for k in ("year", "month", "day")):
        ans.raw = {p: _clean(typed.get(p, ""))[:8] for p in DATE_PARTS}
        iso, code = date_from_parts(ans.raw["era"], ans.raw["year"], ans.raw["month"], ans.raw["day"])
        ans.parts = [ans.raw[p] for p in DATE_PARTS]
    else:
        ans.raw = {"value": _clean(typed.get("value", ""))[:40]}
        iso, code = date_from_text(ans.raw["value"])
    if code:
        return _fail(ans, path, code)
    return _checked(f, iso, ans, path, needed, catalogue, max_length, values)


def _read_other(f: FieldDef, typed: Mapping[str, str], catalogue: Catalogue, path: str, needed: bool,
                max_length: int) -> Answer:
    ans = Answer()
    if f.parts and any(p in typed for p in f.parts):
        return _read_name(f, typed, catalogue, path, needed, max_length)
    if f.type == "address" and ("town" in typed or "rest" in typed):
        town, rest = _clean(typed.get("town", "")), _clean(typed.get("rest", ""))
        ans.raw = {"town": town[:max_length * 2], "rest": rest[:max_length * 2]}
        ans.parts = [town, rest]
        return _checked(f, (town + rest).strip(), ans, path, needed, catalogue, max_length)
    text = _clean(typed.get("value", ""))
    ans.raw = {"value": text[:max_length * 2]}
    value: Any = text
    if text and f.type == "checkbox":
        if text not in ("yes", "no"):
            return _fail(ans, path, "bad_choice")
        value = text == "yes"
    elif text and f.type == "number":
        value = parse_typed_number(text)
        if value is None:
            return _fail(ans, path, "not_number")
    return _checked(f, value, ans, path, needed, catalogue, max_length)


def _read_name(f: FieldDef, typed: Mapping[str, str], catalogue: Catalogue, path: str, needed: bool,
               max_length: int) -> Answer:
    """姓 and 名 (or セイ and メイ) typed apart → one value, the parts joined by a space (which
    core.forms makes the name's own space: U+3000 in a Japanese name). A part may hold spaces
    itself (a Latin name's VAN AN); the checks of the value apply to the whole name."""
    ans = Answer()
    family, given = (_clean(typed.get(p, "")) for p in NAME_PARTS)
    ans.raw = {"family": family[:max_length * 2], "given": given[:max_length * 2]}
    ans.parts = [family, given]
    if not family and given:   # a name of one part is written as the family name
        ans.errors.append(FieldError(path, "required", "family name is required", part="family"))
        return ans
    return _checked(f, f"{family} {given}" if given else family, ans, path, needed, catalogue, max_length)


def shown_name_parts(f: FieldDef, value: Any, parts: list[str] | None = None) -> dict[str, str]:
    """The family and given inputs of a name asked again: as typed when `parts` still make the
    stored `value`, else the value split at its first space (a card's 山田　太郎)."""
    if parts and len(parts) == 2 and isinstance(value, str):
        joined = f"{parts[0]} {parts[1]}" if parts[1] else parts[0]
        if (to_katakana(joined) if f.type == "kana" else normalise_name(joined)) == value:
            return dict(zip(NAME_PARTS, parts, strict=True))
    return dict(zip(NAME_PARTS, split_name(value if isinstance(value, str) else ""), strict=True))


def _fail(ans: Answer, path: str, code: str) -> Answer:
    ans.errors.append(FieldError(path, code, code.replace("_", " ")))
    return ans


def _checked(f: FieldDef, value: Any, ans: Answer, path: str, needed: bool, catalogue: Catalogue,
             max_length: int, values: Mapping[str, Any] | None = None) -> Answer:
    if value is None or value == "":
        return _fail(ans, path, "required") if needed else ans
    ans.value = normalise_value(f, value, path, ans.errors, catalogue, max_length, values=values)
    return ans


def read_member(typed: Mapping[str, str], catalogue: Catalogue, *, prefix: str = "", path: str = "household[0]",
                max_length: int = DEFAULT_MAX_LENGTH) -> Answer:
    """One household member from a member form: `name` and `kana` (each also as `name__family`
    and `name__given`, `kana__family` and `kana__given`), `sex`, `relationship`, and the birth
    date as `birth_date` text or as `birth_era`/`birth_year`/`birth_month`/`birth_day` (every
    key after `prefix`). Errors name `<path>.<key>`; the value is the member's dict."""
    ans = Answer()
    member: dict[str, Any] = {}
    for key in HOUSEHOLD_KEYS:
        if key == "relationship":   # checked once the member's other answers are good
            text = _clean(typed.get(prefix + key, ""))
            ans.raw[key] = text[:max_length]
            if text:
                member[key] = text
            continue
        names = {"value": prefix + key}
        if key == "birth_date" and any(f"{prefix}birth_{p}" in typed for p in DATE_PARTS):
            names = {p: f"{prefix}birth_{p}" for p in DATE_PARTS}
        if catalogue.field(key).parts and any(f"{prefix}{key}__{p}" in typed for p in NAME_PARTS):
            names = {p: f"{prefix}{key}__{p}" for p in NAME_PARTS}
        one = read(catalogue.field(key), {part: typed.get(name, "") for part, name in names.items()}, catalogue,
                   path=f"{path}.{key}", required=key in ("name", "birth_date"), max_length=max_length)
        ans.raw.update({names[part]: text for part, text in one.raw.items()})
        ans.errors.extend(one.errors)
        if one.value is not None:
            member[key] = one.value
    if not ans.errors and "relationship" in member:
        relationship(member["relationship"], f"{path}.relationship", ans.errors, catalogue)
    if not ans.errors:
        ans.value = member
    return ans


def member_name_inputs(member: Mapping[str, Any], catalogue: Catalogue) -> dict[str, str]:
    """A stored member's name and kana as a member form's inputs show them again (the keys
    read_member reads: `name__family`, `name__given`, `kana__family`, `kana__given`), and its
    answers to the procedures' member questions (`lives_apart`: yes or no)."""
    out: dict[str, str] = {}
    for key in ("name", "kana"):
        f = catalogue.field(key)
        if f.parts:
            out.update({f"{key}__{p}": text for p, text in shown_name_parts(f, member.get(key)).items()})
        else:
            out[key] = member.get(key) or ""
    # The yes/no questions a procedure asks about each member (同居・別居): as read_member reads them.
    for q in MEMBER_QUESTIONS:
        if isinstance(member.get(q), bool):
            out[q] = "yes" if member[q] else "no"
    return out


def member_name_labels(catalogue: Catalogue, lang: str) -> dict[str, list[tuple[str, str]]]:
    """The labels of a member form's name and kana inputs, [(part, label)] each: 姓 and 名, セイ and メイ."""
    return {key: [(p, catalogue.field(key).part_label(p, lang)) for p in catalogue.field(key).parts]
            for key in ("name", "kana")}
