"""The one JSON form of an application, and its validation.

    {"procedures": ["juminido", ...], "name": ..., "kana": ..., "birth_date": "YYYY-MM-DD",
     "sex": "male"|"female"|"unknown", "postal_code": ..., "address": ..., "phone": ...,
     "household": [{"name", "kana", "birth_date", "sex", "relationship"}],
     ...each procedure's own fields by their catalogue names}

Every CLI command, API and test that takes an application takes this. Errors come back
one per field, with a machine code and an English message that never repeats the value
(values are personal data); surfaces show their own translated words for each code.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from core.catalogue import Catalogue, FieldDef
from core.clock import today_in_japan
from core.errors import FieldError, ValidationError
from core.japanese import fold_width, is_katakana, normalise_digits, normalise_name, to_katakana

log = logging.getLogger("madoguchi.forms")

DEFAULT_MAX_LENGTH = 200
HOUSEHOLD_KEYS = ("name", "kana", "birth_date", "sex", "relationship", "lives_apart")
MAX_HOUSEHOLD = 20
EARLIEST_DATE = date(1868, 1, 1)
LATEST_DATE = date(2100, 12, 31)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PHONE_RE = re.compile(r"^\+?[0-9]{10,15}$")


def _text(value: Any, f: FieldDef, path: str, errors: list[FieldError], max_length: int) -> str | None:
    if not isinstance(value, str):
        errors.append(FieldError(path, "not_text", "must be text"))
        return None
    s = unicodedata.normalize("NFC", value).strip()
    if _CONTROL_RE.search(s):
        errors.append(FieldError(path, "control_characters", "contains control characters"))
        return None
    limit = f.max_length or max_length
    if len(s) > limit:
        errors.append(FieldError(path, "too_long", f"must be at most {limit} characters", max_length=limit))
        return None
    bad = first_unprintable(s)
    if bad is not None:
        codes = " ".join(f"U+{ord(c):04X}" for c in bad)
        errors.append(FieldError(path, "unprintable_character", f"has a character no print font has ({codes})",
                                 character=bad))
        return None
    return s


_fonts_missing_logged = False


def first_unprintable(text: str) -> str | None:
    """The first character of `text` the printed forms' fonts cannot draw (None: all print).

    The fonts belong to `printing`; they are loaded on the first check. A server without
    them (a prereg server installed without fonts) skips the check and says so once: the
    kiosk and the counter, which print, always have them."""
    global _fonts_missing_logged
    if text.isascii():
        return None if text.isprintable() else next(c for c in text if not c.isprintable())
    from printing.errors import FontMissing
    from printing.fonts import first_unprintable as check
    try:
        return check(text)
    except FontMissing as e:
        if not _fonts_missing_logged:
            log.warning("answers are not checked for printable characters: %s", e)
            _fonts_missing_logged = True
        return None


def _date(value: Any, f: FieldDef, path: str, errors: list[FieldError],
          values: Mapping[str, Any] | None) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        errors.append(FieldError(path, "bad_date", "must be a date as YYYY-MM-DD"))
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(path, "bad_date", "is not a real date"))
        return None
    if not EARLIEST_DATE <= d <= LATEST_DATE:
        errors.append(FieldError(path, "date_out_of_range", "is outside the years 1868–2100"))
        return None
    if f.must_be_past(values) and d > today_in_japan():
        errors.append(FieldError(path, "date_in_future", "must not be after today"))
        return None
    return value


def normalise_value(f: FieldDef, value: Any, path: str, errors: list[FieldError],
                    catalogue: Catalogue, max_length: int = DEFAULT_MAX_LENGTH,
                    values: Mapping[str, Any] | None = None) -> Any:
    """Check one value against its field definition; return it normalised (or None on error).
    `values` are the other answers, for a check that depends on them (a 転入日 not ahead)."""
    t = f.type
    if t in ("text", "address"):
        s = _text(value, f, path, errors, max_length)
        if s is not None and (f.name == "name" or f.parts):
            s = normalise_name(s)
        if s is not None and f.pattern:
            s = fold_width(s).replace(" ", "")
            s = s.upper() if f.upper else s
            if not re.fullmatch(f.pattern, s):
                errors.append(FieldError(path, "bad_format", "does not have the format asked", example=f.example or ""))
                return None
        return s
    if t == "kana":
        s = _text(value, f, path, errors, max_length)
        if s is None:
            return None
        s = to_katakana(s)
        if s and not is_katakana(s):
            errors.append(FieldError(path, "not_kana", "must be written in katakana"))
            return None
        return s
    if t == "date":
        return _date(value, f, path, errors, values)
    if t == "postal_code":
        if not isinstance(value, str):
            errors.append(FieldError(path, "bad_postal_code", "must be 7 digits"))
            return None
        digits = normalise_digits(value)
        if not re.fullmatch(r"[0-9]{7}", digits):
            errors.append(FieldError(path, "bad_postal_code", "must be 7 digits"))
            return None
        return digits
    if t == "phone":
        if not isinstance(value, str):
            errors.append(FieldError(path, "bad_phone", "must be a phone number"))
            return None
        s = unicodedata.normalize("NFKC", value).strip()
        digits = re.sub(r"[\s\-()‐－ー]", "", s)
        if not _PHONE_RE.fullmatch(digits):
            errors.append(FieldError(path, "bad_phone", "must be a phone number of 10 to 15 digits"))
            return None
        return s
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(FieldError(path, "not_number", "must be a whole number"))
            return None
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            errors.append(FieldError(path, "out_of_range", f"must be between {f.min} and {f.max}",
                                     min=f.min, max=f.max))
            return None
        return value
    if t == "choice":
        if not isinstance(value, str) or value not in f.choices:
            errors.append(FieldError(path, "bad_choice", f"must be one of {', '.join(f.choices)}",
                                     choices=list(f.choices)))
            return None
        return value
    if t == "checkbox":
        if not isinstance(value, bool):
            errors.append(FieldError(path, "not_boolean", "must be true or false"))
            return None
        return value
    if t == "household":
        return _household(value, path, errors, catalogue, max_length)
    raise AssertionError(f"unhandled field type {t}")


def relationship(value: Any, path: str, errors: list[FieldError], catalogue: Catalogue) -> str | None:
    """A household member's relationship: one of the catalogue's (None, and an error, if not)."""
    if not isinstance(value, str):
        errors.append(FieldError(path, "not_text", "must be text"))
        return None
    if catalogue.relationships and value not in catalogue.relationships:
        errors.append(FieldError(path, "bad_choice", f"must be one of {', '.join(catalogue.relationships)}"))
        return None
    return value


def _household(value: Any, path: str, errors: list[FieldError], catalogue: Catalogue, max_length: int):
    if not isinstance(value, list):
        errors.append(FieldError(path, "not_list", "must be a list of people"))
        return None
    if len(value) > MAX_HOUSEHOLD:
        errors.append(FieldError(path, "too_many", f"must have at most {MAX_HOUSEHOLD} people"))
        return None
    members = []
    before = len(errors)
    for i, member in enumerate(value):
        mpath = f"{path}[{i}]"
        if not isinstance(member, dict):
            errors.append(FieldError(mpath, "not_object", "must be an object"))
            continue
        for key in member:
            if key not in HOUSEHOLD_KEYS:
                errors.append(FieldError(f"{mpath}.{key}", "unknown_field", "is not a household field"))
        out = {}
        for key in HOUSEHOLD_KEYS:
            if key not in member or member[key] in (None, ""):
                if key in ("name", "birth_date"):
                    errors.append(FieldError(f"{mpath}.{key}", "required", "is required"))
                continue
            if key == "relationship":
                rel = relationship(member[key], f"{mpath}.{key}", errors, catalogue)
                if rel is not None:
                    out[key] = rel
                continue
            out[key] = normalise_value(catalogue.field(key), member[key], f"{mpath}.{key}", errors, catalogue,
                                       max_length)
        members.append(out)
    return members if len(errors) == before else None


def parse_application(obj: Any, catalogue: Catalogue, *, complete: bool = True,
                      max_length: int = DEFAULT_MAX_LENGTH) -> tuple[list[str], dict[str, Any]]:
    """Validate a JSON form. Returns (procedures, values); raises ValidationError listing every problem.

    complete=True also requires every required field that applies; drafts pass complete=False.
    """
    errors: list[FieldError] = []
    if not isinstance(obj, dict):
        raise ValidationError([FieldError("", "not_object", "an application must be a JSON object")])
    procs = obj.get("procedures")
    if not isinstance(procs, list) or not procs or not all(isinstance(p, str) for p in procs):
        raise ValidationError([FieldError("procedures", "required", "must list at least one procedure id")])
    unknown = [p for p in procs if p not in catalogue.procedures]
    if unknown:
        raise ValidationError([FieldError("procedures", "unknown_procedure",
                                          f"unknown procedure(s): {', '.join(unknown)}", unknown=unknown)])
    procs = list(dict.fromkeys(procs))
    fields = {f.name: f for f in catalogue.fields_for(procs)}
    values: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "procedures":
            continue
        f = fields.get(key)
        if f is None:
            code = "not_for_procedures" if catalogue.known_field(key) else "unknown_field"
            msg = "is not used by the chosen procedures" if code == "not_for_procedures" else "is not a known field"
            errors.append(FieldError(key, code, msg))
            continue
        if value is None or value == "":
            continue  # absent: allowed for drafts, caught below when complete
        v = normalise_value(f, value, key, errors, catalogue, max_length, values=obj)
        if v is not None:
            values[key] = v
    if "household" in values:
        errors.extend(head_problems(values))
    already = {e.field for e in errors}
    for name, f in fields.items():
        if name in already:
            continue
        if not f.applies(values) and name in values:
            errors.append(FieldError(name, "not_applicable", "does not apply to the other answers"))
        elif complete and f.required and f.applies(values) and name not in values:
            errors.append(FieldError(name, "required", "is required"))
    if errors:
        raise ValidationError(errors)
    return procs, values


HEAD = "head"   # the relationship of the 世帯主 themself (relationships are to the head, as on the 住民票)


def head_problems(values: Mapping[str, Any]) -> list[FieldError]:
    """A household has one head: the person (relationship_to_head) or one member, not two."""
    heads = 1 if values.get("relationship_to_head") == HEAD else 0
    problems = []
    for i, member in enumerate(values.get("household") or []):
        if isinstance(member, dict) and member.get("relationship") == HEAD:
            heads += 1
            if heads > 1:
                problems.append(FieldError(f"household[{i}].relationship", "second_head",
                                           "only one person is the head of household"))
    return problems


def head_name(values: Mapping[str, Any]) -> str | None:
    """The 世帯主's name: the person's when they are the head, a member's who is, else as typed."""
    if values.get("relationship_to_head") == HEAD:
        return values.get("name")
    for member in values.get("household") or []:
        if isinstance(member, dict) and member.get("relationship") == HEAD:
            return member.get("name")
    return values.get("head_of_household")


# A member's relationship to the head, seen from a person who is not the head (the person's own
# relationship to the head is the key): what the member is to the person, where it is certain
# enough to print. Anything else is left for the counter to write.
_SEEN_FROM: dict[str, dict[str, str | None]] = {
    "spouse": {"child": "child", "parent": None, "grandchild": "grandchild"},
    "child": {"spouse": "parent", "child": "sibling", "grandchild": None, "parent": "grandparent"},
    "parent": {"spouse": "parent"},
}
_HEAD_SEEN_FROM = {"spouse": "spouse", "child": "parent", "parent": "child", "grandchild": "grandparent",
                   "grandparent": "grandchild", "sibling": "sibling"}


def relationship_to_person(member_relationship: str | None, person_relationship: str | None) -> str | None:
    """What a household member is to the person filing (請求者との続柄), from both relationships
    to the head. The person is the head (or we do not know otherwise): the member's own."""
    if not member_relationship or person_relationship in (None, HEAD):
        return member_relationship
    if member_relationship == HEAD:
        return _HEAD_SEEN_FROM.get(person_relationship)
    return _SEEN_FROM.get(person_relationship, {}).get(member_relationship)


def notices(procedures: list[str], values: Mapping[str, Any], catalogue: Catalogue, *,
            on: date | None = None) -> list[FieldError]:
    """What the visitor should be told about accepted answers: a move notified (`on`, default
    today) later than the law's days (code `late_notice`, with `days`). Never a refusal."""
    out = []
    today = on or today_in_japan()
    for f in catalogue.fields_for(procedures):
        days = f.late_days(values) if f.type == "date" else None
        value = values.get(f.name)
        if days is None or not isinstance(value, str) or not f.applies(dict(values)):
            continue
        try:
            late = (today - date.fromisoformat(value)).days > days
        except ValueError:
            continue
        if late:
            out.append(FieldError(f.name, "late_notice", f"more than {days} days ago", days=days))
    return out


def prune_inapplicable(values: dict[str, Any], catalogue: Catalogue, procedures: list[str]) -> dict[str, Any]:
    """Drop answers whose `when` no longer holds (a flow where the visitor changed an earlier answer)."""
    fields = {f.name: f for f in catalogue.fields_for(procedures)}
    return {k: v for k, v in values.items() if k not in fields or fields[k].applies(values)}
