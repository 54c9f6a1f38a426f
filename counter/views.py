"""Today's queue, opening a form by its code, the detail page and what a clerk does there:
correct (with a reason), print again, confirm, reject."""
from __future__ import annotations

import copy
import logging
import unicodedata
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import answers, help_calls, outbox
from core import exchange_log as xlog
from core.application import Application, Source, State
from core.catalogue import get_catalogue, text_in
from core.clock import in_japan
from core.errors import FieldError, MadoguchiError, NotFound, TransitionError, ValidationError
from core.forms import notices, parse_application
from core.japanese import parse_typed_number
from core.navigator import explain, recorded_guide
from core.services import casework as services
from core.services.disclosure import log_disclosure
from core.services.prereg import PreregInUse, open_preregistration
from core.services.printing import (
    PRINTABLE_STATES,
    PrintedNotRecorded,
    has_unrecorded_print,
    print_application,
    record_unrecorded_print,
)
from core.site import current_site
from core.store.applications import AlreadyStored, ApplicationStore, ConcurrentUpdate
from core.users import Role
from counter import calling, casework
from counter.auth import current_clerk, requires, sign_in_page
from counter.blueprint import bp
from counter.labels import CHANNEL_LABELS, STATE_LABELS, label_of, local_time, minutes, tr
from web import get_config, get_db
from web.messages import field_error_for, message

log = logging.getLogger("madoguchi.counter")


# --- messages for machine codes ------------------------------------------------------------

def field_error_message(err: FieldError) -> str:
    return field_error_for(err, get_catalogue())


def printer_error_message(code: str) -> str:
    return message(code, default="print_failed")


def identity_error_message(err: FieldError) -> str:
    """Words for the 本人確認 form's codes (core.services.casework)."""
    if err.code == "identity_unchecked":
        return _("Record which identity document you checked before confirming.")
    if err.code == "identity_documents_short":
        return _("These procedures need %(n)d identity documents (or one photo ID). Record the second one.",
                 n=err.params.get("needed", 2))
    if err.code == "invalid_date":
        return _("Enter the expiry date, e.g. 2030-04-01 or 令和12年4月1日, or leave it empty.")
    if err.code == "description_required":
        return _("Say which document it was (e.g. health insurance card), without its number.")
    if err.code == "too_long":
        return _("Keep the description to %(n)d characters.", n=services.MAX_DESCRIPTION)
    return _("Choose one of the documents in the list.")


def identity_context(app: Application, events) -> dict[str, Any]:
    """What the 本人確認 part of the detail page shows: the documents to choose from, how many
    the procedures need, what was typed (a form shown again), the check recorded at confirming,
    and a card read at the kiosk whose expiry has passed."""
    today = casework.today()
    recorded = next((ev.new for ev in reversed(events) if ev.kind == "identity_check" and isinstance(ev.new, dict)),
                    None)
    return {
        "kinds": services.ID_DOCUMENT_KINDS, "max": services.MAX_ID_DOCUMENTS,
        "needed": services.documents_needed(app),
        "needed_with_photo": services.documents_needed(app, check=services.IdentityCheck(
            (services.IdDocument("mynumber_card"),))),
        "typed": {k: request.form.get(k, "") for k in request.form if k.startswith("id_")}
        if request.method == "POST" else {},
        "recorded": recorded, "card": casework.card_expiry(events, today),
    }


# --- the queue -----------------------------------------------------------------------------

QUEUE_STATE_FILTERS = {
    "all": None,
    "open": [str(s) for s in casework.OPEN_STATES],
    "submitted": ["submitted"], "printed": ["printed"], "confirmed": ["confirmed"],
    "forwarded": ["forwarded"], "rejected": ["rejected"], "cancelled": ["cancelled"],
}


def _queue_filters() -> dict[str, Any]:
    day = casework.day_from(request.args.get("day")) or casework.today()
    state = request.args.get("state", "open")
    if state not in QUEUE_STATE_FILTERS:
        state = "open"
    procedure = request.args.get("procedure", "")
    if procedure not in get_catalogue().procedures:
        procedure = ""
    typed = request.args.get("number", "")[:40]
    number = casework.read_reception_number(typed) or unicodedata.normalize("NFKC", typed).strip()[:20]
    return {"day": day, "state": state, "procedure": procedure, "number": number}


def queue_view_rows(rows: list[casework.QueueRow]) -> list[dict[str, Any]]:
    """What each line of the queue shows, worked out here once instead of word by word in the
    template (a busy day has hundreds of lines, refreshed every few seconds)."""
    names = {pid: p.title(g.lang) for pid, p in get_catalogue().procedures.items()}
    now = casework.utcnow()
    unprinted = [r.app.id for r in rows if r.app.state is State.SUBMITTED]
    failures = casework.print_failures(get_db(), unprinted) if unprinted else {}
    out = []
    for r in rows:
        waited = r.timeline.waited(now)
        still_waiting = r.is_open and not r.timeline.first_view_at
        out.append({
            "id": r.app.id, "reception": r.app.reception_number or "—", "state": str(r.app.state),
            "state_label": label_of(STATE_LABELS, str(r.app.state)), "is_open": r.is_open,
            "procedures": [names.get(p, p) for p in r.app.procedures],
            "channel": label_of(CHANNEL_LABELS, r.app.channel), "printed": local_time(r.timeline.printed_at) or "—",
            "waiting": (tr("waiting %(t)s", t=minutes(waited)) if still_waiting
                        else tr("waited %(t)s", t=minutes(waited))),
            "long_wait": still_waiting and waited.total_seconds() > 1800,
            "hidden_label": tr("reception no. %(n)s", n=r.app.reception_number or r.app.id),
            "not_printed": (None if r.app.state is not State.SUBMITTED
                            else printer_error_message(failures[r.app.id]) if r.app.id in failures
                            else tr("No print has reached a printer yet.")),
        })
    return out


@bp.get("/help-calls")
@requires(Role.CLERK)
def help_calls_box():
    """The queue's "visitors waiting for help" box alone, for the page to refresh it often."""
    return render_template("counter/_help_calls.html", help_calls=help_calls.open_calls(get_db()))


@bp.post("/help-calls/<int(max=9223372036854775807):call_id>")   # SQLite's largest key
@requires(Role.CLERK)
def answer_help_call(call_id: int):
    """A clerk goes to the kiosk: the call leaves every clerk's queue."""
    if help_calls.answer(get_db(), call_id, current_clerk().actor):
        flash(_("The kiosk's call is answered."))
    return redirect(url_for("counter.index"))


def render_queue(status: int = 200, **kw):
    filters = _queue_filters()
    db = get_db()
    rows = casework.queue(db, filters["day"], QUEUE_STATE_FILTERS[filters["state"]],
                          filters["procedure"] or None, filters["number"] or None)
    start, end = casework.local_day_bounds(filters["day"])
    counts = ApplicationStore(db).count_by_state(start, end)
    return render_template(
        "counter/queue.html", rows=queue_view_rows(rows), counts=counts,
        waiting_count=sum(counts.get(str(s), 0) for s in casework.OPEN_STATES), filters=filters,
        is_today=filters["day"] == casework.today(), catalogue=get_catalogue(),
        state_filters=list(QUEUE_STATE_FILTERS), errors=kw.pop("errors", {}),
        help_calls=help_calls.open_calls(db), call_windows=calling.windows(), call_window=calling.current_window(),
        **kw), status


@bp.get("/")
def index():
    if g.clerk_session is None:
        return sign_in_page()
    return render_queue()


# --- opening by code -----------------------------------------------------------------------

@bp.post("/open")
@requires(Role.CLERK)
def open_by_code():
    """What a USB scanner types into the focused field (code + Enter), or a clerk types: a form
    code, a pre-registration code, or today's reception number (A-001, as the kiosk said it)."""
    typed = request.form.get("code", "")
    number = casework.read_reception_number(typed)
    if number is not None:
        return open_by_reception_number(number)
    kind, value = casework.read_code(typed)
    if kind == "form":
        if ApplicationStore(get_db()).find(value) is None:
            return render_queue(404, errors={"code": _("No application has the code %(code)s. Check that the form "
                                                       "was printed at this office.", code=value)})
        return redirect(url_for("counter.detail", app_id=value))
    if kind == "prereg":
        return open_prereg(value)
    return render_queue(400, errors={"code": _("This is not a form code. Scan the QR code printed on the form "
                                               "(or the resident's pre-registration QR code).")})


def open_by_reception_number(number: str):
    """Reception numbers count again every day and per office: the number is today's (in Japan)
    at this server's office. Another office's A-001 of today is opened only when this office
    has none (a visitor sent over with their slip)."""
    found = casework.todays_with_reception_number(get_db(), number, calling.own_office())
    if not found:
        return render_queue(404, errors={"code": _("No application today has the reception number %(n)s.",
                                                   n=number)})
    if len(found) > 1:   # two kiosks set to one prefix: the clerk picks from the queue
        flash(_("More than one application today has the reception number %(n)s.", n=number), "warning")
        return redirect(url_for("counter.index", number=number, state="all"))
    return redirect(url_for("counter.detail", app_id=found[0]))


def open_prereg(token_text: str):
    """A resident's pre-registration QR: fetch and decrypt it, and make it an application."""
    db, config, clerk = get_db(), get_config(), current_clerk()
    try:
        opened = open_preregistration(db, config, token_text, actor=clerk.actor, open_existing=True)
    except PreregInUse as e:
        return _prereg_in_use(e.details["app_id"])
    except MadoguchiError as e:
        log.info("pre-registration not opened: %s", e.code)
        return _prereg_refused(e.code)
    if opened.existing_application is not None:
        return redirect(url_for("counter.detail", app_id=opened.app_id))
    assert opened.form is not None  # not an existing application: it was fetched
    try:
        procedures, values, dropped = _usable_values(opened.form)
    except ValidationError:
        log.warning("pre-registration %s names procedures this office does not have", opened.app_id)
        return render_queue(422, errors={"code": _("This pre-registration is for procedures this office does not "
                                                   "handle. Ask the resident which procedures they need.")})
    app = Application(id=opened.app_id, procedures=procedures, channel="counter")
    app.data = values
    app.sources = {k: str(Source.QR) for k in values}
    app.note(clerk.actor, "created", new={"procedures": procedures, "channel": "counter", "from": "prereg",
                                          "prereg_id": opened.app_id, "dropped_fields": dropped,
                                          "office": current_site().office_id(config.kiosk.office)})
    guide = recorded_guide(opened.guide, get_catalogue())
    if guide:
        app.note(clerk.actor, "guide", new=guide)
    app.transition(State.SUBMITTED, actor=clerk.actor)
    try:
        ApplicationStore(db).save(app)
    except AlreadyStored:
        return _prereg_in_use(app.id)
    if dropped:
        catalogue = get_catalogue()
        labels = "、".join(catalogue.field(f).label_in(g.lang) if catalogue.known_field(f) else f for f in dropped)
        flash(_("Some answers of the pre-registration could not be used and were left empty: %(fields)s.",
                fields=labels), "warning")
    return redirect(url_for("counter.detail", app_id=app.id))


def _prereg_in_use(app_id: str):
    # A kiosk made it an application meanwhile: that one is the application; open it.
    flash(_("This pre-registration is already in use at a kiosk. Its application is shown."), "warning")
    return redirect(url_for("counter.detail", app_id=app_id))


def _prereg_refused(code: str):
    status, errors = _prereg_problem(code)
    return render_queue(status, errors=errors)


def _prereg_problem(code: str) -> tuple[int, dict]:
    """The status and message for a pre-registration that cannot be opened (core.tokens /
    core.sealed error codes)."""
    if code in ("unknown_id", "expired"):
        return 404, {"code": _("This pre-registration was not found. It may have expired or been withdrawn. "
                               "The resident can fill in the forms at the kiosk instead.")}
    if code.startswith("prereg_"):
        return 503, {"code": _("The pre-registration server cannot be reached just now. Try again in a moment, "
                               "or let the resident fill in the forms at the kiosk.")}
    return 400, {"code": _("This pre-registration code cannot be read. Ask the resident to show the QR code "
                           "again, brighter or larger.")}


def _usable_values(form: dict) -> tuple[list[str], dict, list[str]]:
    """Validate a pre-registration as a draft; answers that fail are left out, not the whole form."""
    catalogue = get_catalogue()
    form = dict(form)
    dropped: list[str] = []
    for _attempt in range(3):
        try:
            procedures, values = parse_application(form, catalogue, complete=False)
            return procedures, values, dropped
        except ValidationError as e:
            bad = {err.field.split("[")[0].split(".")[0] for err in e.errors}
            if "procedures" in bad or "" in bad:
                raise
            dropped += sorted(bad)
            form = {k: v for k, v in form.items() if k not in bad}
    raise ValidationError([FieldError("", "invalid", "pre-registration cannot be used")])


# --- the detail page -----------------------------------------------------------------------

def load_app(app_id: str) -> Application:
    """The application of the URL, loaded once per request (the services take it as loaded)."""
    try:
        return services.load(get_db(), app_id)
    except NotFound:
        abort(404)


def field_rows(app: Application, printed: dict | None, changed: set[str] | None, problems: dict[str, str]):
    catalogue = get_catalogue()
    rows = []
    seen = set()
    for f in catalogue.fields_for(app.procedures):
        seen.add(f.name)
        applies = f.applies(app.data)
        if not applies and f.name not in app.data:
            continue
        rows.append({
            "name": f.name, "field": f, "label": f.label_in(g.lang), "value": app.data.get(f.name),
            "source": app.sources.get(f.name), "required": f.required and applies, "applies": applies,
            "printed": None if printed is None else printed.get(f.name),
            "changed": bool(changed and f.name in changed), "problem": problems.get(f.name),
        })
    for name in sorted(set(app.data) - seen):  # values the catalogue no longer knows: still shown
        rows.append({"name": name, "field": None, "label": name, "value": app.data[name],
                     "source": app.sources.get(name), "required": False, "applies": False,
                     "printed": None if printed is None else printed.get(name),
                     "changed": bool(changed and name in changed), "problem": problems.get(name)})
    return rows


def licence_addresses(app: Application, events) -> dict | None:
    """The licence's address at issue and its current (changed) address, when a licence was read.

    The kiosk notes a licence read as an event of kind `card_read` with
    new={"card": "licence", "address": current, "address_at_issue": at issue}.
    """
    for ev in reversed(events):
        if ev.kind == "card_read" and isinstance(ev.new, dict) and ev.new.get("card") in ("licence", "driving_licence"):
            current, at_issue = ev.new.get("address"), ev.new.get("address_at_issue")
            return {"current": current, "at_issue": at_issue, "form": app.data.get("address"),
                    "moved": bool(at_issue and current and at_issue != current), "at": ev.at}
    if app.sources.get("address") == "licence":
        return {"current": app.data.get("address"), "at_issue": None, "form": app.data.get("address"),
                "moved": False, "at": None}
    return None


def completeness_problems(app: Application) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in services.completeness_problems(app):
        out.setdefault(err.field.split("[")[0].split(".")[0] or "procedures", field_error_message(err))
    return out


def render_detail(app: Application, status: int = 200, errors: dict | None = None, log_view: bool = True):
    db, config, clerk = get_db(), get_config(), current_clerk()
    store = ApplicationStore(db)
    try:
        # A print whose paper came out here without its record is recorded now (nothing is printed).
        record_unrecorded_print(db, config, app)
    except (PrintedNotRecorded, ConcurrentUpdate):
        pass
    events = store.events(app.id)
    if log_view:
        log_disclosure(db, config, actor=clerk.actor, purpose="clerk_view", app=app, payload=app.data)
    printed = casework.values_as_printed(app, events)
    changed = casework.changed_since_print(app, events)
    problems = completeness_problems(app) if app.state in casework.OPEN_STATES else {}
    views = casework.first_views(db, [app.id])
    tl = casework.timeline(events, views.get(app.id))
    rows = field_rows(app, printed, changed, problems)
    guide_event = next((ev for ev in reversed(events) if ev.kind == "guide"), None)
    catalogue = get_catalogue()
    guide = [{"name": catalogue.get(s.procedure).title(g.lang), "chosen": s.procedure in app.procedures,
              "reasons": " ".join(text_in(r, g.lang) for r in s.reasons)}
             for s in explain(guide_event.new if guide_event else None, app.data, catalogue)]
    labels = {r["name"]: r["label"] for r in rows}
    late = [field_error_message(n) for n in notices(app.procedures, app.data, catalogue,
                                                    on=in_japan(app.created_at).date())]
    return render_template(
        "counter/detail.html", app=app, rows=rows, events=events, printed=printed, changed=changed or set(),
        problems=problems, labels=labels, timeline=tl, notices=late, licence=licence_addresses(app, events),
        guide=guide,
        corrections=[e for e in events if casework.is_correction(e)],
        outbox=outbox.latest_for(db, app.id), errors=errors or {},
        can_correct=app.state in casework.OPEN_STATES,
        can_print=app.state in PRINTABLE_STATES and not has_unrecorded_print(app.id),
        can_confirm=app.state is State.PRINTED, can_reject=app.can_move_to(State.REJECTED),
        identity=identity_context(app, events),
        exchange_count=xlog.count(db, application_id=app.id)), status


@bp.get("/applications/<app_id>")
@requires(Role.CLERK)
def detail(app_id):
    return render_detail(load_app(app_id))


@bp.get("/applications/<app_id>/forwarding")
@requires(Role.CLERK)
def forwarding(app_id):
    """The forwarding box alone, for the detail page to follow without a reload (no personal data)."""
    app = load_app(app_id)
    return render_template("counter/_forwarding.html", app=app, outbox=outbox.latest_for(get_db(), app.id))


@bp.post("/applications/<app_id>/forwarding/retry")
@requires(Role.CLERK)
def forwarding_retry(app_id):
    """Queue a record the worker gave up on again (same idempotency key: the core system can tell)."""
    app = load_app(app_id)
    ob = outbox.latest_for(get_db(), app.id)
    if ob is None or ob["state"] != "failed":
        flash(_("There is nothing to send again."), "error")
    else:
        outbox.requeue_failed(get_db(), [ob["id"]])
        log.info("%s queued record %s again", current_clerk().username, ob["id"])
        flash(_("The record will be sent again."), "success")
    return redirect(url_for("counter.detail", app_id=app.id) + "#forwarding")


def _seen_version() -> int | None:
    """The version the page was rendered with (None when the form sent none)."""
    sent = request.form.get("version", "")
    if not sent:
        return None
    return int(sent) if sent.isascii() and sent.isdigit() and len(sent) < 12 else -1  # -1: matches no version


def _stale(app_id: str):
    flash(_("Someone else changed this application while you had it open. Check the current values and "
            "try again."), "error")
    return redirect(url_for("counter.detail", app_id=app_id))


def _closed(app_id: str):
    flash(_("This application is closed and can no longer be corrected."), "error")
    return redirect(url_for("counter.detail", app_id=app_id))


# --- corrections ---------------------------------------------------------------------------


def _input_value(f, value) -> str:
    """A stored value as it goes back into an input."""
    if value is None:
        return ""
    if f.type == "checkbox":
        return "yes" if value else "no"
    return str(value)


@bp.route("/applications/<app_id>/fields/<name>", methods=["GET", "POST"])
@requires(Role.CLERK)
def correct(app_id, name):
    app = load_app(app_id)
    catalogue = get_catalogue()
    if not catalogue.known_field(name) and name not in app.data:
        abort(404)
    f = catalogue.field(name) if catalogue.known_field(name) else None
    if f is not None and f.type == "household":
        return redirect(url_for("counter.household", app_id=app.id))
    if app.state not in casework.OPEN_STATES:
        return _closed(app.id)
    context = {"app": app, "name": name, "field": f, "label": f.label_in(g.lang) if f else name,
               "current": app.data.get(name), "source": app.sources.get(name)}
    if f is not None and f.parts:   # 姓 and 名 apart: the stored name split at its space, or as typed
        context["part_labels"] = [(p, f.part_label(p, g.lang)) for p in f.parts]
        context["parts"] = answers.shown_name_parts(f, app.data.get(name))
    if request.method == "GET":
        return render_template("counter/correct.html", errors={}, value=_input_value(f, app.data.get(name)) if f else
                               str(app.data.get(name, "")), reason="", **context)
    raw: Any = request.form.get("value", "")
    if f is not None and f.parts and any(p in request.form for p in f.parts):
        raw = {p: request.form.get(p, "") for p in f.parts}
        context["parts"] = raw
    try:
        services.correct(get_db(), get_config(), app, actor=current_clerk().actor, field=name, value=raw,
                         reason=request.form.get("reason", ""), expected_version=_seen_version())
    except ValidationError as e:
        reason, _problem = services.checked_reason(request.form.get("reason", ""))
        return render_template("counter/correct.html", value=raw, reason=reason,
                               errors={("reason" if err.field == "reason" else "value"): field_error_message(err)
                                       for err in e.errors}, **context), 400
    except ConcurrentUpdate:
        return _stale(app.id)
    except TransitionError:
        return _closed(app.id)
    flash(_("Corrected: %(field)s.", field=context["label"]), "success")
    return redirect(url_for("counter.detail", app_id=app.id) + f"#field-{name}")


def _member_inputs(member: dict, catalogue) -> dict:
    """A stored member as the member form's inputs show it (the name and kana in parts)."""
    return {**member, **answers.member_name_inputs(member, catalogue)}


@bp.route("/applications/<app_id>/household", methods=["GET", "POST"])
@requires(Role.CLERK)
def household(app_id):
    """Household members: correct one, add one or take one off, with a reason."""
    app = load_app(app_id)
    catalogue = get_catalogue()
    if app.state not in casework.OPEN_STATES:
        return _closed(app.id)
    members = copy.deepcopy(app.data.get("household") or [])
    member_arg = request.values.get("member")
    index = len(members) if member_arg is None else parse_typed_number(member_arg, max_digits=3)
    if index is None or not 0 <= index <= len(members):
        abort(404)
    action = request.form.get("action", "save")
    member = members[index] if index < len(members) else {}
    context = {"app": app, "index": index, "is_new": index == len(members), "members": members,
               "relationships": catalogue.relationships, "sex_field": catalogue.field("sex"),
               "label": catalogue.field("household").label_in(g.lang),
               "name_parts": answers.member_name_labels(catalogue, g.lang),
               "member_questions": catalogue.member_questions(app.procedures)}
    if request.method == "GET":
        return render_template("counter/household.html", member=_member_inputs(member, catalogue), errors={},
                               reason="", **context)
    if action == "remove" and index < len(members):
        members.pop(index)
        new_member = member
    else:
        ans = answers.read_member(request.form, catalogue, path=f"household[{index}]")
        if not ans.ok:
            reason, problem = services.checked_reason(request.form.get("reason", ""))
            errors = {err.field.rsplit(".", 1)[-1]: field_error_message(err) for err in reversed(ans.errors)}
            if problem:
                errors["reason"] = field_error_message(problem)
            return render_template("counter/household.html", member=ans.raw, errors=errors, reason=reason,
                                   **context), 400
        new_member = ans.value
        if index < len(members):
            members[index] = new_member
        else:
            members.append(new_member)
    try:
        services.correct(get_db(), get_config(), app, actor=current_clerk().actor, field="household",
                         value=members, reason=request.form.get("reason", ""), expected_version=_seen_version())
    except ValidationError as e:
        errors: dict[str, str] = {}
        codes = {err.code for err in e.errors}
        for err in e.errors:
            if err.code == "same_value":
                if "reason_required" not in codes and "reason_too_long" not in codes:
                    errors["name"] = field_error_message(err)
                continue
            key = ("reason" if err.field == "reason" else err.field.rsplit(".", 1)[-1]
                   if err.field.startswith(f"household[{index}]") else "household")
            errors.setdefault(key, field_error_message(err))
        reason, _problem = services.checked_reason(request.form.get("reason", ""))
        return render_template("counter/household.html", member=_member_inputs(new_member, catalogue), errors=errors,
                               reason=reason, **context), 400
    except ConcurrentUpdate:
        return _stale(app.id)
    except TransitionError:
        return _closed(app.id)
    flash(_("Corrected: %(field)s.", field=context["label"]), "success")
    return redirect(url_for("counter.detail", app_id=app.id) + "#field-household")


# --- print, confirm, reject ----------------------------------------------------------------

@bp.post("/applications/<app_id>/print")
@requires(Role.CLERK)
def print_form(app_id):
    app = load_app(app_id)
    db, config, clerk = get_db(), get_config(), current_clerk()
    if app.state not in PRINTABLE_STATES:
        flash(_("This application cannot be printed in its present state."), "error")
        return redirect(url_for("counter.detail", app_id=app.id))
    seen = _seen_version()
    if seen is not None and seen != app.version:     # someone else changed it since the clerk saw it
        return _stale(app.id)
    from hardware.printer import open_printer  # here, not at import: pycups and reportlab load on first print
    from printing import render_application
    from printing.errors import MalformedValue, MissingGlyph

    try:
        pdf = render_application(app.to_json_form(), app.id)
    except MadoguchiError as e:
        field = e.field if isinstance(e, (MissingGlyph, MalformedValue)) else None
        label = get_catalogue().field(field).label_in(g.lang) if field and get_catalogue().known_field(field) else ""
        flash(printer_error_message(e.code) + (f" ({label})" if label else ""), "error")
        return redirect(url_for("counter.detail", app_id=app.id))
    try:
        print_application(db, config, app, actor=clerk.actor, printer=open_printer(config), pdf=pdf)
    except ConcurrentUpdate:
        return _stale(app.id)
    except PrintedNotRecorded as e:
        # The paper is out: no "print again" (the detail page offers none until it is recorded).
        # The code itself goes on the page until the message table has words for it (the
        # fallback "could not be printed" would be untrue, and invite a second copy).
        flash(e.code, "error")
        return redirect(url_for("counter.detail", app_id=app.id))
    except MadoguchiError as e:
        log.warning("print of %s failed: %s", app.id, e.code)
        flash(printer_error_message(e.code), "error")
        return redirect(url_for("counter.detail", app_id=app.id))
    flash(_("The form has been sent to the printer."), "success")
    return redirect(url_for("counter.detail", app_id=app.id))


@bp.post("/applications/<app_id>/confirm")
@requires(Role.CLERK)
def confirm(app_id):
    app = load_app(app_id)
    identity, identity_errors = services.read_identity_check(request.form)
    if identity_errors:
        return render_detail(app, 400, errors={err.field: identity_error_message(err) for err in identity_errors},
                             log_view=False)
    try:
        services.confirm(get_db(), get_config(), app, actor=current_clerk().actor,
                         expected_version=_seen_version(), identity=identity,
                         corrections_checked=bool(request.form.get("checked_corrections")))
    except TransitionError:
        flash(_("Only a printed application can be confirmed."), "error")
        return redirect(url_for("counter.detail", app_id=app.id))
    except ConcurrentUpdate:
        return _stale(app.id)
    except ValidationError as e:
        messages = {
            "incomplete": _("Correct the marked values before confirming."),
            "corrections_unchecked": _("Values were corrected after the form was printed. Reprint the form for "
                                       "the resident, or tick the box once they have checked the corrections."),
        }
        return render_detail(app, 400, errors={err.field: messages.get(err.code) or identity_error_message(err)
                                               for err in e.errors}, log_view=False)
    flash(_("Confirmed. The record is queued for the core system."), "success")
    return redirect(url_for("counter.detail", app_id=app.id))


@bp.route("/applications/<app_id>/reject", methods=["GET", "POST"])
@requires(Role.CLERK)
def reject(app_id):
    app = load_app(app_id)
    if not app.can_move_to(State.REJECTED):
        return _not_rejectable(app.id)
    things = [{"value": code, "label": text_in(names, g.lang)}
              for code, names in get_catalogue().things_to_bring.items()]
    if request.method == "GET":
        return render_template("counter/reject.html", app=app, errors={}, reason="", things=things, bring=[],
                               note="")
    bring, note = request.form.getlist("bring"), request.form.get("note", "")
    try:
        services.reject(get_db(), get_config(), app, actor=current_clerk().actor,
                        reason=request.form.get("reason", ""), expected_version=_seen_version(),
                        bring=bring, note=note)
    except ValidationError as e:
        errors = {}
        for err in e.errors:
            errors.setdefault(err.field, _("Give the reason for rejecting the application.")
                              if err.code == "reason_required" else
                              _("Choose only from the list.") if err.code == "unknown_thing_to_bring"
                              else field_error_message(err))
        reason, _problem = services.checked_reason(request.form.get("reason", ""))
        return render_template("counter/reject.html", app=app, reason=reason, things=things, note=note[:500],
                               bring=[b for b in bring if b in get_catalogue().things_to_bring],
                               errors=errors), 400
    except ConcurrentUpdate:
        return _stale(app.id)
    except TransitionError:
        return _not_rejectable(app.id)
    flash(_("The application has been rejected."), "success")
    return redirect(url_for("counter.detail", app_id=app.id))


def _not_rejectable(app_id: str):
    flash(_("This application cannot be rejected in its present state."), "error")
    return redirect(url_for("counter.detail", app_id=app_id))
