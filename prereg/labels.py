"""What the resident's pages show for values: dates with 和暦 in Japanese, choices by their
labels, household members on one line, procedure names. Words for error codes are in the
one table, web.messages."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import g
from flask_babel import format_date
from flask_babel import gettext as _

from core.catalogue import FieldDef, get_catalogue, text_in
from core.japanese import ERAS, format_postal_code, to_wareki


def lang() -> str:
    return g.get("lang", "ja")


def show_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    text = format_date(d, "long")
    if lang() in ("ja", "ja-easy") and d >= ERAS[0].start:
        era, year = to_wareki(d)
        text += f"（{era.kanji}{'元' if year == 1 else year}年）"
    return text


def display(f: FieldDef, value: Any) -> str | list[str]:
    """An answer as the check-your-answers page shows it."""
    if value is None or value == "" or value == []:
        return _("Not answered")
    if f.type == "choice":
        return f.choice_label(value, lang())
    if f.type == "checkbox":
        return _("Yes") if value else _("No")
    if f.type == "date":
        return show_date(value)
    if f.type == "postal_code":
        return format_postal_code(value)
    if f.type == "household":
        return [member_line(m) for m in value]
    return str(value)


def member_line(m: dict[str, Any]) -> str:
    cat = get_catalogue()
    parts = [m.get("name", "")]
    if m.get("kana"):
        parts[0] += f"（{m['kana']}）" if lang() in ("ja", "ja-easy", "zh") else f" ({m['kana']})"
    if m.get("birth_date"):
        parts.append(show_date(m["birth_date"]))
    if m.get("sex"):
        parts.append(cat.field("sex").choice_label(m["sex"], lang()))
    if m.get("relationship"):
        parts.append(text_in(cat.relationships.get(m["relationship"]), lang()))
    if m.get("lives_apart") is True:
        parts.append(cat.field("lives_apart").label_in(lang()))
    sep = "、" if lang() in ("ja", "ja-easy", "zh") else ", "
    return sep.join(p for p in parts if p)


def procedure_names(procs: list[str]) -> list[str]:
    cat = get_catalogue()
    return [cat.get(p).name(lang()) for p in procs if p in cat.procedures]


def step_label(step: str) -> str:
    """The words for a step of an application's progress (core.progress)."""
    return {"received": _("Received"), "printed": _("Forms printed"), "confirmed": _("Checked by the clerk"),
            "forwarded": _("Sent to the city's records system"), "rejected": _("Sent back"),
            "cancelled": _("Cancelled")}.get(step, step)


def japan_time(dt) -> str:
    """A date and time in Japan's time (whatever the server's zone), the date in the page's language."""
    from core.clock import in_japan
    local = in_japan(dt)
    return f"{format_date(local.date(), 'long')} {local:%H:%M}"
