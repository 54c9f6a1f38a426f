"""What the kiosk's templates show: values formatted for reading, the confirm page's sections,
and the words for error codes (from the one table, web.messages). Flask-Babel is used for the words."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import g
from flask_babel import format_date
from flask_babel import gettext as _

from core.answers import shown_name_parts
from core.catalogue import NAME_PARTS, Catalogue, FieldDef, get_catalogue, text_in
from core.clock import today_in_japan
from core.errors import FieldError
from core.japanese import format_postal_code, format_wareki
from kiosk import flow
from kiosk.kanji import kind_for_field
from web.city import places_in_office
from web.messages import field_error_for, message


def lang() -> str:
    return g.get("lang") or "ja"


def message_for(code: str | None) -> str | None:
    """The words for a code (an unknown one gets "something went wrong, ask staff")."""
    return message(code) if code else None


def field_message(error: FieldError) -> str:
    """One field's problem, naming the field (the label comes from the catalogue)."""
    return field_error_for(error, get_catalogue())


# --- values for reading ---------------------------------------------------------------------

def format_day(iso: str | None, *, show_era: bool = True) -> str:
    if not iso:
        return ""
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return iso
    if lang() in ("ja", "ja-easy"):
        wareki = ""
        try:
            wareki = format_wareki(d)
        except ValueError:
            pass
        western = f"{d.year}年{d.month}月{d.day}日"
        return f"{wareki}（{western}）" if wareki and show_era else western
    return format_date(d, "long")


def display(f: FieldDef, value: Any, catalogue: Catalogue) -> str:
    if value is None or value == "":
        return ""
    if f.type == "date":
        return format_day(value)
    if f.type == "choice":
        return f.choice_label(value, lang())
    if f.type == "checkbox":
        return _("Yes") if value else _("No")
    if f.type == "postal_code":
        return format_postal_code(value)
    return str(value)


@dataclass
class Row:
    name: str
    label: str
    value: str
    source: str | None
    required: bool
    members: list[dict] = field(default_factory=list)
    japanese: bool = False     # a name or an address as written in Japan: shown in a Japanese face


@dataclass
class Section:
    title: str
    rows: list[Row]


def member_view(member: dict, catalogue: Catalogue) -> dict[str, str]:
    rel = member.get("relationship")
    return {
        "name": member.get("name", ""), "kana": member.get("kana", ""),
        "birth_date": format_day(member.get("birth_date")),
        "sex": catalogue.field("sex").choice_label(member["sex"], lang()) if member.get("sex") else "",
        "relationship": text_in(catalogue.relationships.get(rel), lang()) if rel else "",
        "apart": catalogue.field("lives_apart").label_in(lang()) if member.get("lives_apart") is True else "",
    }


def _row(f: FieldDef, visit: flow.Visit, catalogue: Catalogue) -> Row:
    value = visit.values.get(f.name)
    row = Row(f.name, f.label_in(lang()), display(f, value, catalogue), visit.sources.get(f.name), f.required,
              japanese=f.type in ("text", "kana", "address", "household"))
    if f.type == "household":
        row.members = [member_view(m, catalogue) for m in value or []]
        row.value = ""
    return row


def review_sections(visit: flow.Visit, catalogue: Catalogue) -> list[Section]:
    """The confirm page: the visitor's own details once, then each form's own questions."""
    applicable = {f.name: f for f in flow.applicable_fields(visit, catalogue)}
    person = [f for name, f in applicable.items() if name in catalogue.person_fields]
    sections = [Section(_("About you (used on every form)"), [_row(f, visit, catalogue) for f in person])]
    for pid in visit.procedures:
        proc = catalogue.get(pid)
        rows = [_row(applicable[f.name], visit, catalogue) for f in proc.fields if f.name in applicable]
        sections.append(Section(proc.title(lang()), rows))
    return sections


def source_label(source: str | None) -> str:
    return {
        "card": _("From your My Number card"),
        "licence": _("From your driver's licence"),
        "qr": _("From your pre-registration"),
        "typed": _("Entered here"),
    }.get(source or "", "")


def next_steps(procedure_ids: list[str], catalogue: Catalogue, office_id: str) -> dict[str, Any]:
    """Where to take the forms in the office this kiosk stands in ([kiosk].office): one place per
    section (課, floor, window, opening hours) with its forms and what to bring; a form no section
    of the office takes goes to its procedure's own section text."""
    office, elsewhere = places_in_office(procedure_ids, catalogue, office_id or None)
    return {"office": office, "places": (office.places if office else []) + elsewhere}


# --- question pages -------------------------------------------------------------------------

KEYBOARDS = {"kana": "kana", "text": "text", "address": "address", "postal_code": "digits",
             "phone": "phone", "number": "digits"}


def keyboard_for(f: FieldDef) -> str | None:
    """The on-screen keyboard a question opens: as the field says (`input`), or as the example of
    its pattern is written (12345678901: a number pad; AB12345678CD: Latin), else by its type."""
    if f.input:
        return f.input
    if f.type == "text" and f.pattern and f.example:
        if f.example.isdigit():
            return "digits"
        if f.example.isascii() and f.example.isalnum():
            return "latin"
    return KEYBOARDS.get(f.type)


def field_view(f: FieldDef, visit: flow.Visit, form=None, prefill: str | None = None) -> dict[str, Any]:
    """A question page: the field, its current answer as the inputs show it, its keyboard."""
    value = visit.values.get(f.name)
    current: dict[str, str] = {}
    if form is not None:
        current = {k: form.get(k, "") for k in ("value", "era", "year", "month", "day", *NAME_PARTS,
                                                 *(f"{k}__reading" for k in ("value", *NAME_PARTS)))}
    elif f.parts:   # 姓 and 名: a card's name split at its space (or the reading of the kanji chosen)
        current = shown_name_parts(f, value if value is not None else prefill)
    elif f.type == "date" and value:
        y, m, d = value.split("-")
        current = {"era": "western", "year": y, "month": str(int(m)), "day": str(int(d))}
    elif f.type == "date":
        current = {"era": "western", "year": str(today_in_japan().year) if f.name == "move_date" else ""}
    elif f.type == "checkbox":
        current = {"value": "" if value is None else ("yes" if value else "no")}
    elif value is not None:
        current = {"value": str(value)}
    elif prefill:
        current = {"value": prefill}
    elif f.default is not None:
        current = {"value": str(f.default)}
    return {
        "def": f, "name": f.name, "type": f.type, "required": f.required,
        "question": f.question_in(lang()), "label": f.label_in(lang()), "hint": text_in(f.hint, lang()),
        "choices": [(c, f.choice_label(c, lang())) for c in f.choices],
        "current": current, "keyboard": keyboard_for(f), "source": visit.sources.get(f.name),
        "max_length": f.max_length, "parts": [(p, f.part_label(p, lang())) for p in f.parts],
        "kanji": kind_for_field(f.name, f.type, bool(f.parts)),
    }
