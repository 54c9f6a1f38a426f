"""The resident's pages: start → life event → procedures → one question per page →
check your answers → confirmation with the QR code.

Answers live in an encrypted server-side draft (prereg.drafts) whose key is in the session
cookie; personal data never appears in a URL. After submit the draft is deleted and only
the token (the key to the sealed application) stays, in the resident's own cookie, so the
confirmation page, the PNG download and the printable page can show the QR again.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, redirect, render_template, request, session, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from core import progress, satisfaction, sealed
from core.catalogue import MEMBER_QUESTIONS, NAME_PARTS, FieldDef, get_catalogue, text_in
from core.errors import FieldError, ValidationError
from core.forms import MAX_HOUSEHOLD, notices
from core.japanese import format_postal_code, lookup_postal_code
from core.navigator import guide_record
from core.tokens import TokenError, decode_status_token, decode_token, looks_like_status_token
from prereg import drafts, widgets
from prereg.api import png_response, retry_after, submit_form
from prereg.blueprint import bp, short
from prereg.flow import OTHER_EVENT, Flow
from prereg.labels import display, japan_time, lang, member_line, procedure_names, step_label
from web import get_config, get_db
from web.city import places_in_every_office
from web.exchange_words import HEADERS, texts
from web.messages import era_options, field_error, yes_no_options

DRAFT = "prereg_draft"
DONE = "prereg_done"
RATED = "prereg_rated"   # this browser's application was rated (one rating an application)


# --- state ----------------------------------------------------------------------------

def load_flow() -> Flow:
    return Flow(get_catalogue(), drafts.load(get_db(), session.get(DRAFT)))


def save_flow(flow: Flow) -> None:
    handle = session.get(DRAFT)
    if not handle:
        handle = drafts.new_handle()
        session[DRAFT] = handle
    try:
        drafts.save(get_db(), handle, flow.data)
    except drafts.DraftTooLarge:
        abort(413)


def max_length() -> int:
    return get_config().prereg.max_field_length


def question_url(name: str) -> str:
    return url_for("prereg.question", name=name)


def next_url(flow: Flow) -> str:
    f = flow.next_field()
    return question_url(f.name) if f else url_for("prereg.check")


def back_url(flow: Flow, name: str) -> str:
    if flow.complete():
        return url_for("prereg.check")
    prev = flow.previous_field(name)
    return question_url(prev.name) if prev else url_for("prereg.procedures")


def form_page(problems: list, template: str, **context):
    """A question page; 400 when it is shown again with problems in what was sent."""
    return render_template(template, **context), 400 if problems else 200


def summary(errors: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Error-summary entries: (href, text)."""
    return [{"href": href, "text": text} for href, text in errors]


def message_for(fe: FieldError, f: FieldDef, label: str | None = None) -> str:
    part = fe.params.get("part")
    if part in f.parts:   # the family name left out of a name in parts: say 姓
        label = f.part_label(part, lang())
    return field_error(fe.code, label or f.label_in(lang()), f.type, fe.params)


def input_id(f: FieldDef, fields: list[FieldDef], prefix: str = "") -> str:
    kind = widgets.widget(f, fields)
    base = f"f-{prefix}{f.name}"
    return {"date": base + "-year", "address_parts": base + "-town"}.get(kind, base)


# --- start, life event, procedures ----------------------------------------------------

@bp.get("/")
def index():
    flow = load_flow()
    return render_template("prereg/start.html", in_progress=bool(flow.procedures),
                           continue_url=next_url(flow) if flow.procedures else None,
                           done=session.get(DONE), days=get_config().retention.prereg_days)


@bp.route("/event", methods=["GET", "POST"])
def event():
    flow = load_flow()
    cat = get_catalogue()
    options = [{"value": ev.id, "label": ev.name(lang()), "hint": text_in(ev.description, lang())}
               for ev in cat.life_events.values()]
    options.append({"value": OTHER_EVENT, "label": _("Something else"),
                    "hint": _("Choose from the list of all procedures")})
    errors, value = [], flow.event
    if request.method == "POST":
        value = request.form.get("event", "")
        if value in {o["value"] for o in options}:
            flow.set_event(value)
            if flow.next_guide_question() is None:
                flow.finish_guide()
            save_flow(flow)
            return redirect(url_for("prereg.guide") if flow.next_guide_question() else url_for("prereg.procedures"))
        errors = [("#f-event", _("Select what you need to do"))]
    return form_page(errors, "prereg/event.html", options=options, value=value, errors=summary(errors),
                           error_summary=errors, back=url_for("prereg.index"))


@bp.route("/guide", methods=["GET", "POST"])
def guide():
    """手続きナビ: one yes/no question a page; the answers choose the procedures to start with."""
    flow = load_flow()
    if not flow.event:
        return redirect(url_for("prereg.event"))
    q = flow.next_guide_question()
    asked = request.values.get("q", "")
    if asked and asked in {x.id for x in flow.guide_questions()}:
        q = next(x for x in flow.guide_questions() if x.id == asked)   # asked again from the back link
    if q is None:
        return redirect(url_for("prereg.procedures"))
    errors: list[tuple[str, str]] = []
    current = flow.data["guide"].get(q.id)
    value = "" if current is None else ("yes" if current else "no")
    if request.method == "POST":
        value = request.form.get("answer", "")
        if value in ("yes", "no"):
            flow.answer_guide(q.id, value == "yes")
            save_flow(flow)
            nxt = flow.next_guide_question()
            return redirect(url_for("prereg.guide") if nxt else url_for("prereg.procedures"))
        errors = [("#f-answer", _("Select yes or no"))]
    questions = flow.guide_questions()
    index = [x.id for x in questions].index(q.id)
    back = url_for("prereg.guide", q=questions[index - 1].id) if index else url_for("prereg.event")
    return form_page(errors, "prereg/guide.html", question=text_in(q.text, lang()), hint=text_in(q.hint, lang()),
                     options=yes_no_options(), value=value, errors=summary(errors), error_summary=errors,
                     back=back, step=index + 1, steps=len(questions), question_id=q.id)


@bp.route("/procedures", methods=["GET", "POST"])
def procedures():
    flow = load_flow()
    if not flow.event:
        return redirect(url_for("prereg.event"))
    cat = get_catalogue()
    offered = flow.offered_procedures()
    reasons = flow.suggestions()
    options = [{"value": pid, "label": cat.get(pid).name(lang()),
                "hint": " ".join(text_in(r, lang()) for r in reasons[pid]) if pid in reasons
                else text_in(cat.get(pid).description, lang())} for pid in offered]
    errors, chosen = [], flow.procedures
    if request.method == "POST":
        chosen = [p for p in request.form.getlist("procedures") if p in offered]
        if chosen:
            flow.set_procedures(chosen)
            save_flow(flow)
            return redirect(next_url(flow))
        errors = [("#f-procedures", _("Select at least one procedure"))]
    ev = cat.life_events.get(flow.event)
    return form_page(errors, "prereg/procedures.html", options=options, chosen=chosen, errors=summary(errors),
                           error_summary=errors, event_name=ev.name(lang()) if ev else None,
                           back=url_for("prereg.check") if flow.complete() else
                           (url_for("prereg.guide", q=flow.guide_questions()[-1].id) if flow.guide_questions()
                            else url_for("prereg.event")), guided=bool(reasons))


# --- one question per page ------------------------------------------------------------

@bp.route("/q/<name>", methods=["GET", "POST"])
def question(name):
    flow = load_flow()
    if not flow.procedures:
        return redirect(url_for("prereg.event"))
    f = flow.field(name)
    if f is None:
        return redirect(next_url(flow))
    if f.type == "household":
        return household(flow, f)
    fields = flow.fields()
    errors: list[tuple[str, str]] = []
    field_errors: dict[str, str] = {}
    if request.method == "POST":
        ans = widgets.read(f, request.form, get_catalogue(), fields, max_length=max_length(), values=flow.values)
        if ans.ok:
            changed = flow.values.get(name) != ans.value
            flow.answer(name, ans.value)
            flow.set_parts(name, ans.parts)
            if f.type == "postal_code" and changed:
                for other in flow.fields():
                    if widgets.postal_partner(other, flow.fields()) == name:
                        flow.unvisit(other.name)  # the address must be checked against the new code
            save_flow(flow)
            return redirect(next_url(flow))
        shown = ans.raw
        for fe in ans.errors:
            text = message_for(fe, f)
            errors.append((f"#{input_id(f, fields)}", text))
            field_errors[name] = text
    else:
        shown = widgets.shown(f, flow.values.get(name), flow.parts(name), fields, flow.values)
    return render_question(flow, f, fields, shown, errors, field_errors)


def render_question(flow, f, fields, shown, errors, field_errors):
    kind = widgets.widget(f, fields)
    ctx: dict[str, Any] = {}
    if kind == "radios":
        ctx["options"] = [{"value": c, "label": f.choice_label(c, lang())} for c in f.choices]
    if kind == "yes_no":
        ctx["options"] = yes_no_options()
    if kind == "date":
        ctx["eras"] = era_options()
    if kind == "address_parts":
        partner = widgets.postal_partner(f, fields)
        code = flow.values.get(partner)
        ctx["postal_code"] = format_postal_code(code) if code else None
        ctx["postal_found"] = bool(code and lookup_postal_code(code))
        ctx["postal_url"] = question_url(partner)
    return form_page(errors,
        "prereg/question.html", f=f, kind=kind, question=f.question_in(lang()), label=f.label_in(lang()),
        hint=text_in(f.hint, lang()) or None, shown=shown, errors=summary(errors), error_summary=errors,
        error=field_errors.get(f.name), back=back_url(flow, f.name), max_length=f.max_length or max_length(),
        input_attrs=input_attrs(f), part_labels={p: f.part_label(p, lang()) for p in f.parts}, **ctx)


def input_attrs(f: FieldDef) -> dict[str, str]:
    """Browser hints: the right keyboard on a phone, and autofill for the resident's own details."""
    if f.parts:   # a name in 姓 and 名: each input its own (family-name, given-name for the resident's own)
        return {p: {"autocomplete": f"{p}-name" if f.name == "name" else "off", "spellcheck": "false"}
                for p in NAME_PARTS}
    own = {"name": "name", "phone": "tel", "postal_code": "postal-code"}
    attrs: dict[str, str] = {}
    if f.name in own:
        attrs["autocomplete"] = own[f.name]
    else:
        attrs["autocomplete"] = "off"
    if f.type in ("postal_code", "number"):
        attrs["inputmode"] = "numeric"
    if f.type == "phone":
        attrs["type"] = "tel"
    if f.type in ("kana", "text", "address"):
        attrs["spellcheck"] = "false"
    if f.type == "postal_code":
        attrs["data-postal-lookup"] = "true"
    return attrs


# --- household: the "add another" pattern ---------------------------------------------

def household(flow: Flow, f: FieldDef):
    members = list(flow.values.get("household") or [])
    errors: list[tuple[str, str]] = []
    if request.method == "POST":
        choice = request.form.get("add", "")
        if choice == "yes" and len(members) < MAX_HOUSEHOLD:
            save_flow(flow)
            return redirect(url_for("prereg.member", index=len(members)))
        if choice == "no" or (choice == "yes" and len(members) >= MAX_HOUSEHOLD):
            flow.answer("household", members or None)
            save_flow(flow)
            return redirect(next_url(flow))
        errors = [("#f-add", _("Select yes if anyone else is doing this with you") if not members
                   else _("Select yes if you need to add another person"))]
    cat = get_catalogue()
    rows = [{"key": _("Person %(n)s", n=i + 1), "value": member_line(m),
             "href": url_for("prereg.member", index=i), "remove": url_for("prereg.remove_member", index=i)}
            for i, m in enumerate(members)]
    return form_page(errors, "prereg/household.html", f=f, question=f.question_in(lang()),
                           hint=text_in(f.hint, lang()), members=rows, full=len(members) >= MAX_HOUSEHOLD,
                           max_members=MAX_HOUSEHOLD, errors=summary(errors), error_summary=errors,
                           error=errors[0][1] if errors else None, back=back_url(flow, "household"),
                           options=yes_no_options(),
                           catalogue=cat)


def member_fields(procedures: list[str]) -> list[FieldDef]:
    """A member page's questions: the member's own, and those the chosen procedures add (同居・別居)."""
    cat = get_catalogue()
    rel = FieldDef(name="relationship", type="choice", required=True, choices=tuple(cat.relationships),
                   choice_labels=cat.relationships, label={"en": "Relationship to the head of household"})
    return [cat.field("name"), cat.field("kana"), cat.field("birth_date"), cat.field("sex"), rel,
            *cat.member_questions(procedures)]


def member_label(f: FieldDef) -> str:
    if f.name == "relationship":
        return _("Relationship to the head of household")
    return f.question_in(lang()) if f.name in MEMBER_QUESTIONS else f.label_in(lang())


@bp.route("/household/<int:index>", methods=["GET", "POST"])
def member(index):
    flow = load_flow()
    if flow.field("household") is None:
        return redirect(next_url(flow))
    members = list(flow.values.get("household") or [])
    if index > len(members) or index >= MAX_HOUSEHOLD:
        return redirect(question_url("household"))
    fields = member_fields(flow.procedures)
    errors: list[tuple[str, str]] = []
    field_errors: dict[str, str] = {}
    shown: dict[str, dict[str, str]] = {}
    current = members[index] if index < len(members) else {}
    if request.method == "POST":
        person: dict[str, Any] = {}
        for f in fields:
            ans = widgets.read(f, request.form, get_catalogue(), fields, max_length=max_length(),
                               path=f"household[{index}].{f.name}", prefix="m_")
            shown[f.name] = ans.raw
            if ans.errors:
                text = message_for(ans.errors[0], f, member_label(f))
                errors.append((f"#{input_id(f, fields, 'm_')}", text))
                field_errors[f.name] = text
            elif ans.value is not None:
                person[f.name] = ans.value
        if not errors:
            if index < len(members):
                members[index] = person
            else:
                members.append(person)
            flow.values["household"] = members
            save_flow(flow)
            return redirect(question_url("household"))
    else:
        for f in fields:
            shown[f.name] = widgets.shown(f, current.get(f.name), None, fields, {})
    widgets_ctx = []
    for f in fields:
        kind = widgets.widget(f, fields)
        options = ([{"value": c, "label": text_in(f.choice_labels.get(c), lang()) or c} for c in f.choices]
                   if kind == "radios" else yes_no_options() if kind == "yes_no" else None)
        widgets_ctx.append({"f": f, "kind": kind, "label": member_label(f), "shown": shown[f.name],
                            "error": field_errors.get(f.name), "options": options,
                            "hint": (text_in(f.hint, lang())
                                     if f.name in ("name", "kana", "birth_date", *MEMBER_QUESTIONS) else None),
                            "parts": {p: f.part_label(p, lang()) for p in f.parts},
                            "attrs": {p: {"autocomplete": "off", "spellcheck": "false"} for p in f.parts},
                            "max_length": f.max_length or max_length()})
    return form_page(errors, "prereg/member.html", index=index, number=index + 1, widgets=widgets_ctx,
                           eras=era_options(), errors=summary(errors), error_summary=errors,
                           editing=index < len(members), back=question_url("household"))


@bp.route("/household/<int:index>/remove", methods=["GET", "POST"])
def remove_member(index):
    flow = load_flow()
    members = list(flow.values.get("household") or [])
    if index >= len(members):
        return redirect(question_url("household"))
    errors: list[tuple[str, str]] = []
    if request.method == "POST":
        choice = request.form.get("remove", "")
        if choice in ("yes", "no"):
            if choice == "yes":
                members.pop(index)
                if members:
                    flow.values["household"] = members
                else:
                    flow.values.pop("household", None)
                    flow.unvisit("household")
                save_flow(flow)
            return redirect(question_url("household"))
        errors = [("#f-remove", _("Select yes if you want to remove this person"))]
    return form_page(errors, "prereg/remove_member.html", person=member_line(members[index]),
                           options=yes_no_options(),
                           errors=summary(errors), error_summary=errors, error=errors[0][1] if errors else None,
                           back=question_url("household"))


# --- check your answers, submit -------------------------------------------------------

@bp.route("/check", methods=["GET", "POST"])
def check():
    flow = load_flow()
    if not flow.procedures:
        return redirect(url_for("prereg.event"))
    if not flow.complete():
        return redirect(next_url(flow))
    errors: list[tuple[str, str]] = []
    if request.method == "POST":
        wait = retry_after()
        if wait:
            resp = render_template("prereg/error.html", status=429, retry_after=wait)
            return resp, 429, {"Retry-After": str(wait)}
        try:
            receipt = submit_form(flow.json_form(), guide=guide_record(flow.event, flow.data["guide"],
                                                                        get_catalogue()))
        except ValidationError as e:
            cat = get_catalogue()
            for fe in e.errors:
                name = fe.field.split("[", 1)[0].split(".", 1)[0]
                f = cat.field(name) if cat.known_field(name) else None
                if f is None:
                    continue
                flow.unvisit(name)
                errors.append((question_url(name), message_for(fe, f)))
            save_flow(flow)
        else:
            drafts.delete(get_db(), session.pop(DRAFT, None))
            session.pop(RATED, None)          # a new application: a new rating
            session[DONE] = {"id": receipt.app_id, "token": receipt.token,
                             "expires_at": receipt.expires_at.isoformat(), "procedures": flow.procedures}
            return redirect(url_for("prereg.done"))
    cat = get_catalogue()
    ev = cat.life_events.get(flow.event or "")
    rows = [{"key": _("Procedures"), "value": procedure_names(flow.procedures),
             "href": url_for("prereg.procedures")}]
    for f in flow.fields():
        rows.append({"key": f.label_in(lang()), "value": display(f, flow.values.get(f.name)),
                     "href": question_url(f.name)})
    notes = [message_for(n, cat.field(n.field)) for n in notices(flow.procedures, flow.values, cat)]
    return form_page(errors, "prereg/check.html", rows=rows, event_name=ev.name(lang()) if ev else None,
                     notices=notes,
                           errors=summary(errors), error_summary=errors, back=back_url_last(flow))


def back_url_last(flow: Flow) -> str:
    fields = flow.fields()
    return question_url(fields[-1].name) if fields else url_for("prereg.procedures")


# --- confirmation ---------------------------------------------------------------------

def done_context() -> dict[str, Any] | None:
    done = session.get(DONE)
    if not done:
        return None
    cat = get_catalogue()
    procs = [cat.get(p) for p in done["procedures"] if p in cat.procedures]
    bring: list[str] = []
    for p in procs:
        for item in text_in(p.what_to_bring, lang()) or []:
            if item not in bring:
                bring.append(item)
    offices, elsewhere = places_in_every_office([p.id for p in procs], cat)
    expires = datetime.fromisoformat(done["expires_at"])
    return {"app_id": done["id"], "status_url": url_for("prereg.status", token=done["token"]),
            "procedures": [p.name(lang()) for p in procs], "bring": bring,
            "offices": offices, "elsewhere": elsewhere, "expires": format_date(expires.date(), "long"),
            "days": get_config().retention.prereg_days,
            "fee": sum(p.fee for p in procs) > 0}


@bp.get("/done")
def done():
    ctx = done_context()
    if ctx is None:
        return redirect(url_for("prereg.index"))
    return render_template("prereg/done.html", rated=bool(session.get(RATED)), **ctx)


@bp.post("/done/rate")
def rate():
    """The five faces on the done page (core.satisfaction: nothing ties the rating to the application)."""
    if not session.get(DONE):
        return redirect(url_for("prereg.index"))
    if not session.get(RATED):
        try:
            satisfaction.rate(get_db(), channel="prereg", score=request.form.get("score", ""),
                              comment=request.form.get("comment", ""))
        except satisfaction.RatingRefused:
            return redirect(url_for("prereg.done"))
        session[RATED] = True
    return redirect(url_for("prereg.done"))


@bp.get("/done/qr.png")
def done_qr():
    done = session.get(DONE)
    if not done:
        abort(404)
    return png_response(done["token"], download=request.args.get("download") == "1")


@bp.get("/done/print")
def done_print():
    ctx = done_context()
    if ctx is None:
        return redirect(url_for("prereg.index"))
    return render_template("prereg/print.html", **ctx)


@bp.route("/withdraw", methods=["GET", "POST"])
def withdraw():
    done = session.get(DONE)
    if request.method == "POST":
        if done:
            try:
                sealed.withdraw(get_db(), done["token"])
            except TokenError as e:
                if e.code not in ("unknown_id",):  # already gone is what the resident wanted
                    raise
            session.pop(DONE, None)
        return render_template("prereg/withdrawn.html")
    if not done:
        return redirect(url_for("prereg.index"))
    return render_template("prereg/withdraw.html", back=url_for("prereg.done"))


# --- the status page (進捗) ---------------------------------------------------------------

@bp.get("/s/<token>")
def status(token):
    return status_page(token)


@short.get("/S/<token>")
@short.get("/s/<token>")
def short_status(token):
    return status_page(token)


def status_page(token: str):
    """An application's progress, opened with the prereg token (MDGP1) or the slip's (MDGS1).

    The URL holds the key, so the page is never cached nor sent on as a referrer; an unknown
    id, a wrong key or a bad token is the same 404, in the page's language."""
    config, db = get_config(), get_db()
    try:
        if looks_like_status_token(token):
            app_id, key = decode_status_token(token)
            prereg_key = None
        else:
            app_id, prereg_key = decode_token(token)
            key = progress.prereg_status_key(prereg_key, app_id)
        if not config.prereg.server_url:   # the office shares this database: take what it queued
            progress.deliver_pending(db, config)
        found = progress.progress_of(db, app_id, key)
        if found is None:
            if prereg_key is None:
                raise TokenError("nothing pushed yet", code="unknown_id")
            sealed.verify_token(db, token)   # sent, not yet at the office: only its holder sees that
    except TokenError:
        return _no_store(render_template("prereg/status.html", unknown=True, page_title=_("Page not found")), 404)
    return _no_store(render_template("prereg/status.html", unknown=False, **status_context(found)))


def status_context(found: progress.Progress | None) -> dict[str, Any]:
    reached = {s.step: s for s in found.steps} if found else {}
    current = found.current if found else None
    ended = current in progress.ENDS
    rows = []
    for step in progress.STEPS + ((current,) if ended else ()):
        if step in reached:
            mark = "current" if step == current else "done"
        elif ended:
            continue   # a step an application sent back or cancelled will not reach
        else:
            mark = "pending"
        rows.append({"step": step, "label": step_label(step), "mark": mark,
                     "at": japan_time(reached[step].at) if step in reached else None})
    things = get_catalogue().things_to_bring
    detail = found.detail if found else {}
    bring = [text_in(things[c], lang()) if c in things else c for c in detail.get("bring", [])]
    return {"rows": rows, "sent_only": found is None, "current": current, "bring": bring,
            "note": detail.get("note"), "page_title": _("Your application's progress"),
            "entries": exchange_entries(detail.get("entries") or []), "entry_headers": HEADERS}


def exchange_entries(entries: list) -> list[dict[str, str]]:
    """The application's exchange-log entries the office sealed in the push, in the page's words
    (core.exchange_view, the kiosk's presenter): newest first; anything malformed is left out."""
    from core.exchange_view import rows as exchange_rows
    from core.site import current_site
    usable = [e for e in entries if isinstance(e, dict)]
    return [texts(row) for row in exchange_rows(usable, get_catalogue(), lang(), current_site())]


def _no_store(page, status: int = 200):
    return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.post("/restart")
def restart():
    drafts.delete(get_db(), session.pop(DRAFT, None))
    return redirect(url_for("prereg.event"))
