"""Reading one question's answer from a posted form, and what to show when it is asked again.

Each catalogue field type has its widget: text inputs, a name in two parts (姓 and 名, a
field with `parts`), the postal code, an address in two parts after a postal code (the
looked-up part and the rest), a date in 西暦 or 和暦, radios for choices, yes/no radios for
checkboxes. What was typed is read by `core.answers`, as on
the kiosk and the counter, and checked with `core.forms.normalise_value` as the JSON API is.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from core import answers
from core.answers import DATE_PARTS, WESTERN, Answer
from core.catalogue import NAME_PARTS, Catalogue, FieldDef
from core.japanese import lookup_postal_code


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
    if f.parts:
        return "name_parts"
    return {"choice": "radios", "checkbox": "yes_no", "date": "date", "household": "household"}.get(f.type, "input")


def read(f: FieldDef, form, catalogue: Catalogue, fields: list[FieldDef], *, max_length: int,
         path: str | None = None, prefix: str = "", values: dict[str, Any] | None = None) -> Answer:
    """Read field `f` from `form` (a MultiDict); input names are `prefix + f.name` (+ `__part`)."""
    name = prefix + f.name
    kind = widget(f, fields)
    if kind == "date":
        typed = {p: form.get(f"{name}__{p}", "") for p in DATE_PARTS}
    elif kind == "address_parts":
        typed = {p: form.get(f"{name}__{p}", "") for p in ("town", "rest")}
    elif kind == "name_parts" and any(f"{name}__{p}" in form for p in NAME_PARTS):
        typed = {p: form.get(f"{name}__{p}", "") for p in NAME_PARTS}
    else:
        typed = {"value": form.get(name, "")}
    return answers.read(f, typed, catalogue, path=path, max_length=max_length, values=values)


def shown(f: FieldDef, value: Any, parts: list[str] | None, fields: list[FieldDef],
          values: dict[str, Any]) -> dict[str, str]:
    """What the inputs of a question show when it is asked again (or first, with defaults)."""
    kind = widget(f, fields)
    if kind == "date":
        if parts and len(parts) == 4:
            iso, _ = answers.date_from_parts(*parts)
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
    if kind == "name_parts":
        return answers.shown_name_parts(f, value, parts)
    if kind == "yes_no":
        return {"value": "" if value is None else ("yes" if value else "no")}
    if value is None:
        return {"value": "" if f.default is None or f.type == "choice" else str(f.default)}
    if f.type == "postal_code" and isinstance(value, str) and len(value) == 7:
        return {"value": f"{value[:3]}-{value[3:]}"}
    return {"value": str(value)}
