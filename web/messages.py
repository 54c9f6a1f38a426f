"""The one table of words for machine codes, in the user's language, for every surface.

Domain functions raise or return coded errors (core.errors, core.tokens, hardware.printer,
printing); the pages of prereg, the kiosk and the counter turn each code into words here:
- `message(code)`: a problem that is not one field's (a card, a QR code, the printer…);
- `field_error(code, label, type, params)`: one field's problem (core.errors.FieldError),
  GOV.UK style: says what to do, names the field, never repeats the value;
- `field_error_for(error, catalogue)`: the same, with the label taken from the catalogue
  by the error's path (`household[1].birth_date` → the birth date's label).
`era_options()` and `yes_no_options()` are the choices the date and yes/no inputs offer.
"""
from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from core.catalogue import Catalogue
from core.errors import FieldError

MESSAGES: dict[str, Any] = {
    # the kiosk's notices on its start screen
    "card_removed": lazy_gettext("The card was taken off the reader, so we cleared the screen."
                                 " Nothing you entered was kept."),
    "idle_timeout": lazy_gettext("There was no touch for a while, so we cleared the screen."
                                 " Nothing you entered was kept."),
    "cancelled": lazy_gettext("Cancelled. Nothing you entered was kept."),
    # ID cards (hardware.cards)
    "no_card": lazy_gettext("No card was found on the reader. Place your card flat on the reader and wait a moment."),
    "unknown_card": lazy_gettext("This card cannot be read here."
                                 " Please use your My Number card or an IC driver's licence."),
    "no_reader": lazy_gettext("The card reader is not working. Please ask a member of staff."),
    "card_error": lazy_gettext("The card could not be read. Place it on the reader again."),
    "wrong_pin": lazy_gettext("The PIN is not correct."),
    "pin_format": lazy_gettext("Enter the 4 digits of your PIN."),
    # pre-registration codes (core.tokens, core.sealed, core.services.prereg)
    "empty_code": lazy_gettext("No QR code was read. Hold the QR code up to the camera."),
    "form_code": lazy_gettext("This is the QR code of a printed form."
                              " Please hand the form to the clerk at the counter."),
    "malformed": lazy_gettext("This is not a pre-registration code."
                              " Please show the QR code from the pre-registration page."),
    "bad_version": lazy_gettext("This code was made by a newer or older version of the service and cannot be used."),
    "bad_checksum": lazy_gettext("This code is damaged. Please show the QR code again or type it carefully."),
    "unknown_id": lazy_gettext("This pre-registration was not found."
                               " It may have been withdrawn or deleted after its expiry date."),
    "wrong_key": lazy_gettext("This code does not open the pre-registration. Please check you have the right QR code."),
    "expired": lazy_gettext("This pre-registration has expired. Please apply again."),
    "prereg_in_use": lazy_gettext("This pre-registration is already in use at the counter or at another kiosk,"
                                  " so nothing was printed here. Please ask a member of staff."),
    "already_used": lazy_gettext("The forms of this pre-registration have already been printed."
                                 " If you need them again, please ask a member of staff."),
    "prereg_unreachable": lazy_gettext("Pre-registrations cannot be opened right now. Please ask a member of staff."),
    # choices on the kiosk
    "choose_one": lazy_gettext("Choose one of the options."),
    "choose_procedure": lazy_gettext("Choose at least one procedure."),
    # printing (hardware.printer, printing, core.services.printing)
    "offline": lazy_gettext("The printer is not responding. Check that it is on and connected."),
    "paused": lazy_gettext("The printer is paused. Resume it and print again."),
    "out_of_paper": lazy_gettext("The printer is out of paper. Add paper and print again."),
    "stopped": lazy_gettext("The printer has stopped. Check it and print again."),
    "aborted": lazy_gettext("The print job was cancelled. Print again."),
    "timeout": lazy_gettext("The printer did not finish in time. Check the printer before printing again."),
    "no_queue": lazy_gettext("No printer is set up here."),
    "missing_glyph": lazy_gettext("A character in the form cannot be printed with the form's font."),
    "malformed_value": lazy_gettext("A value cannot be placed on the printed form. Correct it first."),
    "printed_not_recorded": lazy_gettext("The form was printed, but the print could not be recorded."
                                         " Do not print it again: please ask a member of staff."),
    "print_failed": lazy_gettext("The form could not be printed."),
    # the person's own exchange log (the kiosk's "who used my information")
    "own_log_needs_card": lazy_gettext("Your records can be shown only after your own card has been read at"
                                       " this kiosk. Put your card on the reader and start again."),
    "own_log_unreachable": lazy_gettext("The city office's system cannot be reached just now, so your records"
                                        " cannot be shown. Please ask at the counter."),
    # anything else
    "error": lazy_gettext("Something went wrong. Please ask a member of staff."),
}
# Codes that share the words of another.
ALIASES = {"prereg_unauthorized": "prereg_unreachable", "prereg_bad_answer": "prereg_unreachable",
           "invalid_pin": "pin_format"}


def message(code: str | None, default: str = "error") -> str:
    """The words for a code; an unknown code gets the words of `default`."""
    code = ALIASES.get(code or "", code or "")
    return str(MESSAGES.get(code) or MESSAGES[default])


def field_error(code: str, label: str, field_type: str = "text", params: dict | None = None) -> str:
    """A GOV.UK-style message: says what to do, names the field, never repeats the value."""
    p = dict(params or {})
    p["label"] = label
    within = dict(p)   # the label inside a sentence: "Enter full name", not "Enter Full name"
    if g.get("lang") == "en" and label[1:2].islower():
        within["label"] = label[0].lower() + label[1:]
    if code == "required":
        if field_type in ("choice", "checkbox", "procedures", "yes_no"):
            return _("Select %(label)s", **within)
        return _("Enter %(label)s", **within)
    if code == "too_long":
        return _("%(label)s must be %(max_length)s characters or fewer", max_length=p.get("max_length", ""),
                 label=label)
    if code == "not_kana":
        return _("Write %(label)s in katakana", **within)
    if code in ("control_characters", "not_text"):
        return _("%(label)s contains characters that cannot be used", **p)
    if code == "unprintable_character":
        return _("%(label)s has a character that cannot be printed on the form (%(character)s)."
                 " Write it another way, for example in kana", label=label, character=p.get("character", ""))
    if code in ("bad_date", "not_a_date"):
        return _("%(label)s must be a real date", **p)
    if code == "date_incomplete":
        return _("%(label)s must include a year, a month and a day", **p)
    if code == "not_in_era":
        return _("%(label)s does not exist in that era. Check the era and the year", **p)
    if code == "date_out_of_range":
        return _("%(label)s must be between 1868 and 2100", **p)
    if code == "date_in_future":
        return _("%(label)s must not be after today", **p)
    if code == "bad_postal_code":
        return _("Enter %(label)s as 7 digits, like 100-0001", **within)
    if code == "bad_phone":
        return _("Enter %(label)s as 10 to 15 digits, like 090-1234-5678", **within)
    if code in ("not_number", "bad_number"):
        return _("%(label)s must be a whole number, like 2", **p)
    if code == "out_of_range":
        return _("%(label)s must be between %(min)s and %(max)s", label=label, min=p.get("min"), max=p.get("max"))
    if code in ("bad_choice", "not_boolean"):
        return _("Select one of the options for %(label)s", **within)
    if code == "too_many":
        return _("You can add up to %(max)s people", max=p.get("max", 20))
    if code == "unknown_procedure":
        return _("Select procedures from the list")
    if code in ("unknown_field", "not_for_procedures", "not_applicable"):
        return _("%(label)s is not asked for the procedures you chose", **p)
    if code == "bad_format":
        return _("Enter %(label)s in the form %(example)s", label=within["label"], example=p.get("example", ""))
    if code == "second_head":
        return _("Only one person can be the head of household. Check the relationships")
    if code == "late_notice":
        return _("%(label)s is more than %(days)s days ago. The notice is still accepted, but at the counter"
                 " you may be asked why it is late", label=label, days=p.get("days", ""))
    if code == "same_value":
        return _("%(label)s is the same as before. Enter the new value", **p)
    if code == "reason_required":
        return _("Enter the reason for the correction")
    if code == "reason_too_long":
        return _("The reason must be %(max_length)s characters or fewer", max_length=p.get("max_length", ""))
    return _("Check %(label)s", **within)


def field_label(path: str, catalogue: Catalogue, lang: str, part: str | None = None) -> tuple[str, str]:
    """(label, type) of the field an error path names: `household[1].birth_date` → birth date;
    with `part` (an error of a name's family part), that part's label (姓)."""
    name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if name and catalogue.known_field(name):
        f = catalogue.field(name)
        return (f.part_label(part, lang) if part and part in f.parts else f.label_in(lang)), f.type
    return name, "text"


def field_error_for(err: FieldError, catalogue: Catalogue) -> str:
    label, field_type = field_label(err.field, catalogue, g.get("lang") or "ja", err.params.get("part"))
    return field_error(err.code, label, field_type, err.params)


def era_options() -> list[dict[str, str]]:
    """Western calendar first, then the eras from the newest (the date macro's `eras`)."""
    labels = {"western": _("Western calendar (AD)"), "reiwa": _("Reiwa"), "heisei": _("Heisei"),
              "showa": _("Showa"), "taisho": _("Taisho"), "meiji": _("Meiji")}
    return [{"value": v, "label": labels[v]} for v in ("western", "reiwa", "heisei", "showa", "taisho", "meiji")]


def yes_no_options() -> list[dict[str, str]]:
    return [{"value": "yes", "label": _("Yes")}, {"value": "no", "label": _("No")}]
