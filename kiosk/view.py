"""What the kiosk's templates show: translated messages for error codes, values formatted
for reading, and the confirm page's sections. Flask-Babel is used for the words."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import g
from flask_babel import format_date, lazy_gettext
from flask_babel import gettext as _

from core.catalogue import Catalogue, FieldDef, text_in
from core.clock import today_in_japan
from core.japanese import format_postal_code, format_wareki
from kiosk import flow


def lang() -> str:
    return g.get("lang") or "ja"


def messages() -> dict[str, Any]:
    """Words for every code the kiosk may have to explain (the codes come from other areas)."""
    return MESSAGES


MESSAGES = {
    # notices on the start screen
    "card_removed": lazy_gettext("The card was taken off the reader, so we cleared the screen."
                                 " Nothing you entered was kept."),
    "timeout": lazy_gettext("There was no touch for a while, so we cleared the screen. Nothing you entered was kept."),
    "cancelled": lazy_gettext("Cancelled. Nothing you entered was kept."),
    # card
    "no_card": lazy_gettext("No card was found on the reader. Place your card flat on the reader and wait a moment."),
    "unknown_card": lazy_gettext("This card cannot be read here."
                                 " Please use your My Number card or an IC driver's licence."),
    "no_reader": lazy_gettext("The card reader is not working. Please ask a member of staff."),
    "card_error": lazy_gettext("The card could not be read. Place it on the reader again."),
    "wrong_pin": lazy_gettext("The PIN is not correct."),
    "pin_format": lazy_gettext("Enter the 4 digits of your PIN."),
    # QR (core.tokens / core.sealed codes)
    "empty_code": lazy_gettext("No QR code was read. Hold the QR code up to the camera."),
    "form_code": lazy_gettext("This is the QR code of a printed form."
                              " Please hand the form to the clerk at the counter."),
    "malformed": lazy_gettext("This QR code is not a pre-registration."
                              " Please show the QR code from the pre-registration page."),
    "unknown_id": lazy_gettext("This pre-registration was not found. It may have expired or been withdrawn."
                               " Please ask a member of staff."),
    "wrong_key": lazy_gettext("This QR code does not open a pre-registration."
                              " Please check the QR code on your phone, or ask a member of staff."),
    "expired": lazy_gettext("This pre-registration has expired."
                            " Please ask a member of staff, or fill in the form again."),
    "prereg_in_use": lazy_gettext("This pre-registration is already in use at the counter or at another kiosk,"
                                  " so nothing was printed here. Please ask a member of staff."),
    "already_used": lazy_gettext("The forms of this pre-registration have already been printed."
                                 " If you need them again, please ask a member of staff."),
    "prereg_unreachable": lazy_gettext("Pre-registrations cannot be opened right now. Please ask a member of staff."),
    "error": lazy_gettext("Something went wrong. Please ask a member of staff."),
    # choices
    "choose_one": lazy_gettext("Choose one of the options."),
    "choose_procedure": lazy_gettext("Choose at least one procedure."),
    # printing
    "offline": lazy_gettext("The printer is not responding."),
    "paused": lazy_gettext("The printer is paused."),
    "out_of_paper": lazy_gettext("The printer is out of paper."),
    "stopped": lazy_gettext("The printer has stopped."),
    "aborted": lazy_gettext("The print job was stopped."),
    "no_queue": lazy_gettext("The printer is not set up."),
    "missing_glyph": lazy_gettext("A character in your details cannot be printed here."),
    "malformed_value": lazy_gettext("Some of your details cannot be printed here."),
    "printing_unavailable": lazy_gettext("The forms cannot be printed here."),
}
# Field problems (core.forms codes), with the field's label before them.
FIELD_MESSAGES = {
    "required": lazy_gettext("Enter this, or choose an option."),
    "bad_date": lazy_gettext("Enter a real date."),
    "date_out_of_range": lazy_gettext("Enter a date between 1868 and 2100."),
    "not_kana": lazy_gettext("Use katakana only."),
    "bad_postal_code": lazy_gettext("Enter the 7 digits of the postal code."),
    "bad_phone": lazy_gettext("Enter a phone number of 10 to 15 digits."),
    "not_number": lazy_gettext("Enter a whole number."),
    "out_of_range": lazy_gettext("Enter a number from %(min)s to %(max)s."),
    "too_long": lazy_gettext("Use at most %(max_length)s characters."),
    "bad_choice": lazy_gettext("Choose one of the options."),
    "control_characters": lazy_gettext("Remove the special characters."),
    "not_text": lazy_gettext("Enter text."),
}
# Codes that share the words of another.
ALIASES = {"bad_version": "malformed", "bad_checksum": "malformed", "prereg_unauthorized": "prereg_unreachable",
           "prereg_bad_answer": "prereg_unreachable", "prereg_unavailable": "prereg_unreachable",
           "invalid_pin": "pin_format", "device_unavailable": "no_queue"}


def message_for(code: str | None) -> str | None:
    """The words for a code (an unknown one gets "something went wrong, ask staff")."""
    if not code:
        return None
    code = ALIASES.get(code, code)
    return str(MESSAGES.get(code, MESSAGES["error"]))


def field_message(error) -> str:
    template = FIELD_MESSAGES.get(error.code, FIELD_MESSAGES["required"])
    try:
        return str(template) % (error.params or {})
    except (KeyError, TypeError, ValueError):
        return str(template)


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


def next_steps(procedure_ids: list[str], catalogue: Catalogue) -> list[dict[str, Any]]:
    """Where to take the forms: one entry per section (窓口), with its forms and what to bring."""
    out: dict[str, dict[str, Any]] = {}
    for pid in procedure_ids:
        if pid not in catalogue.procedures:
            continue
        proc = catalogue.get(pid)
        section = text_in(proc.section, lang()) or _("The counter")
        entry = out.setdefault(section, {"section": section, "forms": [], "bring": []})
        entry["forms"].append(proc.title(lang()))
        for item in text_in(proc.what_to_bring, lang()) or []:
            if item not in entry["bring"]:
                entry["bring"].append(item)
    return list(out.values())


# --- question pages -------------------------------------------------------------------------

KEYBOARDS = {"kana": "kana", "text": "text", "address": "address", "postal_code": "digits",
             "phone": "phone", "number": "digits"}


def field_view(f: FieldDef, visit: flow.Visit, form=None, prefill: str | None = None) -> dict[str, Any]:
    """A question page: the field, its current answer as the inputs show it, its keyboard."""
    value = visit.values.get(f.name)
    current: dict[str, str] = {}
    if form is not None:
        current = {k: form.get(k, "") for k in ("value", "era", "year", "month", "day")}
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
        "current": current, "keyboard": KEYBOARDS.get(f.type), "source": visit.sources.get(f.name),
        "max_length": f.max_length,
    }
