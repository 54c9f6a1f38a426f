"""The exchange log for clerks: by application or by person; a person's log printed for them."""
from __future__ import annotations

import logging
import unicodedata

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from core import exchange_log as xlog
from core import exchange_view
from core.application import is_application_id
from core.catalogue import get_catalogue
from core.errors import MadoguchiError
from core.japanese import normalise_name, parse_date
from core.services.disclosure import log_disclosure, person_log, with_procedures
from core.store.applications import ApplicationStore
from core.users import Role
from counter import calling, casework
from counter.auth import current_clerk, requires
from counter.blueprint import bp
from counter.labels import PURPOSE_LABELS, label_of
from web import get_config, get_db
from web.exchange_words import printed_log

log = logging.getLogger("madoguchi.counter")


def actor_label(actor: str | None) -> str:
    kind, _sep, ident = (actor or "").partition(":")
    if kind == "kiosk":
        return _("Counter kiosk (%(id)s)", id=ident)
    if kind == "clerk":
        return _("Clerk (%(id)s)", id=ident)
    if kind == "system":
        return _("Madoguchi system")
    return actor or ""


def counterparty_label(counterparty: str | None, purpose: str | None = None) -> str:
    kind = (counterparty or "").partition(":")[0]
    labels = {
        "mynumber_card": _("My Number card"), "driving_licence": _("Driver's licence"),
        "licence": _("Driver's licence"), "card": _("ID card"), "prereg": _("Pre-registration (smartphone)"),
        "printer": _("Printer at the counter"), "madoguchi": _("Application records"),
        "backend": _("Core system"), "core_system": _("Core system"), "resident": _("The person"),
    }
    if kind in labels:
        return labels[kind]
    if purpose == "forward":
        return _("Core system")
    return counterparty or ""


def result_label(result: str | None) -> str:
    if result == "ok":
        return _("Done")
    if (result or "").startswith(("error", "fail", "rejected")):
        return _("Failed")
    return result or ""


def with_kinds(rows: list[dict]) -> list[dict]:
    """Each entry with its `kind` (its purpose; a print after an earlier successful print of the
    same application is a `reprint`) and `field_names` (the fields it concerns, names only)."""
    return [{**r, "kind": kind, "field_names": exchange_view.field_names(r.get("fields"))}
            for r, kind in zip(rows, exchange_view.purposes(rows), strict=True)]


def field_labels(names: list[str]) -> str:
    catalogue = get_catalogue()
    lang = g.get("lang", "ja")
    return "、".join(catalogue.field(n).label_in(lang) if catalogue.known_field(n) else n for n in names)


@bp.app_template_global("exchange_labels")
def exchange_labels():
    return {"actor": actor_label, "counterparty": counterparty_label, "result": result_label,
            "purpose": lambda p: label_of(PURPOSE_LABELS, p), "fields": field_labels}


def _reception_numbers(rows) -> dict[str, str | None]:
    return ApplicationStore(get_db()).reception_numbers({r["application_id"] for r in rows if r["application_id"]})


@bp.get("/exchange-log")
@requires(Role.CLERK)
def exchange_log():
    """Look up the log by application (id or scanned form code), or go to the person search."""
    query = request.args.get("application", "").strip()
    rows, app_id, error = None, None, None
    if query:
        kind, value = casework.read_code(query)
        number = casework.read_reception_number(query)
        if number is not None:   # today's reception number, as at the scan box
            found = casework.todays_with_reception_number(get_db(), number, calling.own_office())
            kind, value = ("form", found[0]) if len(found) == 1 else (None, "")
        if kind == "form":
            app_id = value
            rows = with_kinds(list(xlog.entries(get_db(), application_id=app_id)))
        else:
            error = _("Enter an application number (16 characters) or today's reception number, or scan the "
                      "form's QR code.")
    return render_template("counter/exchange_log.html", rows=rows, app_id=app_id, query=query,
                           errors={"application": error} if error else {},
                           reception=_reception_numbers(rows or []), person={}), 400 if error else 200


@bp.post("/exchange-log/verify")
@requires(Role.SUPERVISOR)
def exchange_log_verify():
    result = xlog.verify(get_db())
    if result.ok:
        flash(_("The exchange log is intact: %(n)d entries, each following the one before.", n=result.entries),
              "success")
    else:
        log.error("exchange log check failed at entry %s: %s", result.first_bad_seq, result.problem)
        flash(_("The exchange log has been altered at entry %(seq)s (%(problem)s). Tell the system administrator.",
                seq=result.first_bad_seq, problem=result.problem), "error")
    return redirect(url_for("counter.exchange_log"))


def _person_from_form() -> tuple[dict, dict]:
    name = normalise_name(unicodedata.normalize("NFC", request.form.get("name", "")))[:60]
    raw_birth = request.form.get("birth_date", "").strip()
    errors = {}
    if not name:
        errors["name"] = _("Enter the person's full name as it is on their application.")
    birth = None
    try:
        birth = parse_date(raw_birth).isoformat() if raw_birth else None
    except (MadoguchiError, ValueError):
        pass
    if birth is None:
        errors["birth_date"] = _("Enter the date of birth, e.g. 1985-04-01 or 昭和60年4月1日.")
    return {"name": name, "birth_date": birth or raw_birth}, errors


def render_person(person: dict, status: int = 200, errors: dict | None = None, application_id: str | None = None):
    rows = with_kinds(person_log(get_db(), get_config(), person["name"], person["birth_date"])) if not errors else None
    return render_template("counter/person_log.html", person=person, rows=rows, errors=errors or {},
                           reception=_reception_numbers(rows or []), application_id=application_id), status


@bp.post("/exchange-log/person")
@requires(Role.CLERK)
def person_search():
    # POST, so a person's name never sits in a URL, a browser history or a server log.
    person, errors = _person_from_form()
    return render_person(person, 400 if errors else 200, errors)


@bp.get("/applications/<app_id>/person-log")
@requires(Role.CLERK)
def application_person_log(app_id):
    app = ApplicationStore(get_db()).find(app_id) if is_application_id(app_id) else None
    if app is None:
        abort(404)
    if not app.data.get("name") or not app.data.get("birth_date"):
        flash(_("This application has no name and date of birth, so the person's log cannot be found."), "error")
        return redirect(url_for("counter.detail", app_id=app.id))
    return render_person({"name": app.data["name"], "birth_date": app.data["birth_date"]}, application_id=app.id)


@bp.post("/exchange-log/person/print")
@requires(Role.CLERK)
def person_log_print():
    """The person's log as a PDF to hand to them; handing it over is itself logged (log_print)."""
    person, errors = _person_from_form()
    if errors:
        return render_person(person, 400, errors)
    db, config, clerk = get_db(), get_config(), current_clerk()
    # The paper names the person as their application writes it (髙﨑, typed 高崎 or as kana).
    found = ApplicationStore(db).people_named(person["name"], person["birth_date"])
    entries = with_procedures(db, person_log(db, config, person["name"], person["birth_date"]))
    person = {**person, "name": found[-1][1] if found else person["name"]}
    pdf = printed_log(entries, name=person["name"], birth_date=person["birth_date"],
                      where=lazy_gettext("the counter"), head=xlog.head(db))
    log_disclosure(db, config, actor=clerk.actor, purpose="log_print", counterparty="resident", app=None,
                   payload=pdf, person=xlog.Person(person["name"], person["birth_date"]))
    if request.form.get("to") == "printer":
        from hardware.printer import open_printer

        try:
            open_printer(config).print_pdf(pdf, "madoguchi exchange log")
        except MadoguchiError as e:
            from counter.views import printer_error_message
            flash(printer_error_message(e.code), "error")
            return render_person(person)
        flash(_("The exchange log has been sent to the printer."), "success")
        return render_person(person)
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = 'inline; filename="exchange-log.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response

