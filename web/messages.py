"""Words for machine codes, in the user's language, for every surface.

`field_error(code, label, type, params)` turns a `core.errors.FieldError` into a message
(GOV.UK style: says what to do, names the field, never repeats the value);
`token_error(code)` does the same for a pre-registration QR code (core.tokens.TokenError);
`era_options()` are the choices of the date input's calendar select.
"""
from __future__ import annotations

from flask import g
from flask_babel import gettext as _


def field_error(code: str, label: str, field_type: str = "text", params: dict | None = None) -> str:
    """A GOV.UK-style message: says what to do, names the field, never repeats the value."""
    p = dict(params or {})
    if g.get("lang") == "en" and label[1:2].islower():
        label = label[0].lower() + label[1:]  # "Enter full name", not "Enter Full name"
    p["label"] = label
    if code == "required":
        if field_type in ("choice", "checkbox", "procedures", "yes_no"):
            return _("Select %(label)s", **p)
        return _("Enter %(label)s", **p)
    if code == "too_long":
        return _("%(label)s must be %(max_length)s characters or fewer", max_length=p.get("max_length", ""),
                 label=label)
    if code == "not_kana":
        return _("Write %(label)s in katakana", **p)
    if code == "control_characters":
        return _("%(label)s contains characters that cannot be used", **p)
    if code in ("bad_date", "not_a_date"):
        return _("%(label)s must be a real date", **p)
    if code == "date_incomplete":
        return _("%(label)s must include a year, a month and a day", **p)
    if code == "not_in_era":
        return _("%(label)s does not exist in that era. Check the era and the year", **p)
    if code == "date_out_of_range":
        return _("%(label)s must be between 1868 and 2100", **p)
    if code == "date_in_future":
        return _("%(label)s must be in the past", **p)
    if code == "bad_postal_code":
        return _("Enter %(label)s as 7 digits, like 100-0001", **p)
    if code == "bad_phone":
        return _("Enter %(label)s as 10 to 15 digits, like 090-1234-5678", **p)
    if code in ("not_number", "bad_number"):
        return _("%(label)s must be a whole number, like 2", **p)
    if code == "out_of_range":
        return _("%(label)s must be between %(min)s and %(max)s", label=label, min=p.get("min"), max=p.get("max"))
    if code == "bad_choice":
        return _("Select one of the options for %(label)s", **p)
    if code == "too_many":
        return _("You can add up to %(max)s people", max=p.get("max", 20))
    if code == "unknown_procedure":
        return _("Select procedures from the list")
    if code in ("unknown_field", "not_for_procedures", "not_applicable"):
        return _("%(label)s is not asked for the procedures you chose", **p)
    return _("Check %(label)s", **p)


def token_error(code: str) -> str:
    if code == "malformed":
        return _("This is not a pre-registration code.")
    if code == "bad_version":
        return _("This code was made by a newer or older version of the service and cannot be used.")
    if code == "bad_checksum":
        return _("This code is damaged. Please show the QR code again or type it carefully.")
    if code == "unknown_id":
        return _("This pre-registration was not found. It may have been withdrawn or deleted after its expiry date.")
    if code == "wrong_key":
        return _("This code does not open the pre-registration. Please check you have the right QR code.")
    if code == "expired":
        return _("This pre-registration has expired. Please apply again.")
    return _("This code cannot be used.")


def era_options() -> list[dict[str, str]]:
    """Western calendar first, then the eras from the newest (the date macro's `eras`)."""
    labels = {"western": _("Western calendar (AD)"), "reiwa": _("Reiwa"), "heisei": _("Heisei"),
              "showa": _("Showa"), "taisho": _("Taisho"), "meiji": _("Meiji")}
    return [{"value": v, "label": labels[v]} for v in ("western", "reiwa", "heisei", "showa", "taisho", "meiji")]


def yes_no_options() -> list[dict[str, str]]:
    return [{"value": "yes", "label": _("Yes")}, {"value": "no", "label": _("No")}]
