"""The kiosk's handlers: pairing, the start screen and language, the page's events, the QR
and card paths, procedures, questions, confirm, print and done, and the emulated devices of
the embedded default. Their URLs are registered on `kiosk.blueprint.bp`."""
from __future__ import annotations

import json
import logging
import math
import time
import unicodedata
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import refresh

from core import answers, help_calls, satisfaction
from core.catalogue import text_in
from core.errors import MadoguchiError, ValidationError
from core.forms import notices
from core.japanese import is_katakana, lookup_postal_code, parse_typed_number, to_katakana
from core.store.applications import AlreadyStored
from kiosk import flow, kanji, pairing
from kiosk.blueprint import (
    NOTICES,
    SCREEN_URLS,
    SESSION_KEY,
    bp,
    current_visit,
    hub,
    kiosk_browser,
    only_the_kiosks_browser,
    screen,
    with_visit,
)
from kiosk.labels import field_message, field_view, lang, member_view, next_steps, review_sections
from web import get_config, get_db, stream_slot

log = logging.getLogger("madoguchi.kiosk")
STREAM_SECONDS = 55        # an event stream ends after this; EventSource reconnects by itself
# A stream writes at least this often, so a page that went away frees its server thread
# within seconds (waitress learns of a closed connection only when it writes).
HEARTBEAT_SECONDS = 2
POLL_MAX_SECONDS = 20
# When every stream slot is taken, the page is told to ask again after this long.
BUSY_RETRY_MS = 3000


# --- pairing (kiosk.pairing) -----------------------------------------------------------------

@bp.get("/pair")
def pair():
    """The page a pairing URL (`madoguchi kiosk pair`) opens: one touch makes this browser the kiosk."""
    code = request.args.get("code", "")
    valid = pairing.code_is_valid(get_db(), get_config().kiosk.kiosk_id, code)
    if not valid and kiosk_browser():
        # The kiosk screen's unit may start on its pairing URL at every boot: once paired, it
        # goes straight to the kiosk; a browser no longer paired sees the error below.
        return redirect(url_for("kiosk.index"))
    return _pair_page(code if valid else None), 200 if valid else 400


@bp.post("/pair")
def pair_post():
    cfg = get_config()
    secret = pairing.pair(get_db(), cfg.kiosk.kiosk_id, request.form.get("code", ""))
    if secret is None:
        return _pair_page(None), 400
    hub().wipe_all()
    response = redirect(url_for("kiosk.index"))
    response.set_cookie(pairing.COOKIE, secret, max_age=pairing.COOKIE_DAYS * 86400, path=url_for("kiosk.index"),
                        httponly=True, samesite="Strict", secure=cfg.server.behind_tls)
    return response


def _pair_page(code: str | None):
    return render_template("kiosk/pair.html", visit=None, screen="outside", error=None, code=code,
                           kiosk_id=get_config().kiosk.kiosk_id)


# --- start and language ----------------------------------------------------------------------

@bp.get("/")
def index():
    cfg = get_config()
    if "lang" not in request.args:
        # Each visitor starts in the kiosk's own language, not the previous visitor's.
        g.lang = cfg.languages.default
        refresh()
    v = hub().new_visit(session.get(SESSION_KEY))
    session[SESSION_KEY] = v.id
    session.pop("kiosk_help", None)      # a new visitor has not called anyone
    notice = request.args.get("notice")
    response = current_app.make_response(
        screen(v, "start", "kiosk/start.html", notice=notice if notice in NOTICES else None,
               card_on_reader=hub().card_left_behind))
    if "lang" not in request.args:
        response.delete_cookie("lang")
    return response


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith(url_for("kiosk.index")):
        return url_for("kiosk.index")
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.get("/language")
def language():
    target = _safe_next(request.args.get("next"))
    sep = "&" if "?" in target else "?"
    links = [(code, native, f"{target}{sep}{urlencode({'lang': code})}") for code, native in _languages()]
    v = current_visit()
    return render_template("kiosk/language.html", visit=v, screen="language", links=links, back=target, error=None)


def _languages():
    from core.config import LANGUAGES
    return [(c, LANGUAGES[c]["native"]) for c in get_config().languages.available]


@bp.post("/end")
def end():
    """The visitor is done, cancels, or the idle prompt ran out: wipe and start again."""
    v = hub().visit(session.get(SESSION_KEY))
    reason = request.form.get("reason")
    notice = reason if reason in NOTICES else None
    if v is not None:
        hub().wipe(v, notice)
    if request.form.get("take_card") == "yes" and emulated_card_reader():
        # The demo's emulated card goes with its visitor (after the visit ended: no "card removed").
        hub().devices.reader().remove()
        hub().card_left_behind = False
    session.pop(SESSION_KEY, None)
    return redirect(url_for("kiosk.index", **({"notice": notice} if notice else {})))


@bp.post("/help")
def call_staff():
    """The visitor touched "call staff": the call appears on the counter's queue at once (this
    office's database, or the office server's when this is a kiosk PC). The visit goes on."""
    h, v = hub(), current_visit()
    screen = v.screen if v is not None else "start"
    try:
        if h.office is not None:
            h.office.call_help(screen)
        else:
            help_calls.call(get_db(), get_config().kiosk.kiosk_id, screen)
    except MadoguchiError as e:
        log.warning("a call for staff could not be made: %s", e.code)
        session["kiosk_help"] = "failed"
    else:
        session["kiosk_help"] = "called"
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/touch")
def touch():
    """The visitor touched the screen (typing, the keypad, "continue" on the idle prompt)."""
    v = current_visit()
    return ("", 204) if v is not None else ({"ended": True}, 410)


# --- events for the page ---------------------------------------------------------------------

def _since() -> int:
    """The last event the page has; a reconnecting EventSource sends it as Last-Event-ID."""
    values = [request.args.get("since", ""), request.headers.get("Last-Event-ID", "")]
    return max([n for n in (parse_typed_number(v, max_digits=18) for v in values) if n is not None] or [0])


def _gone_event(visit_id: str | None) -> dict:
    why = hub().ended_because(visit_id)
    url = url_for("kiosk.index", **({"notice": why} if why in NOTICES else {}))
    return {"type": "navigate", "url": url}


@bp.get("/events")
def events():
    """Long polling: the events after `since`, waiting up to `wait` seconds for one."""
    vid = session.get(SESSION_KEY)
    h = hub()
    if h.visits.get(vid) is None:
        return {"seq": h.seq, "events": [_gone_event(vid)]}
    try:
        wait = float(request.args.get("wait", "0"))
    except ValueError:
        wait = 0
    wait = min(max(wait, 0), POLL_MAX_SECONDS) if math.isfinite(wait) else 0   # "nan" would never end
    release = stream_slot() if wait else None
    if wait and release is None:
        # Every stream slot is taken: answer what there is now; the page asks again later.
        seq, found = h.wait_events(vid, _since(), 0)
        return {"seq": seq, "events": [e for _, e in found], "retry": BUSY_RETRY_MS}
    try:
        gen = h.current_stream(vid)
        seq, found = h.wait_events(vid, _since(), wait, lambda: h.stream_current(vid, gen))
    finally:
        if release:
            release()
    return {"seq": seq, "events": [e for _, e in found]}


@bp.get("/events/stream")
def event_stream():
    """Server-sent events. Waitress sends each yielded chunk at once (send_bytes = 1)."""
    vid = session.get(SESSION_KEY)
    h = hub()
    since = _since()
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if h.visits.get(vid) is None:
        return Response(f"retry: 1000\n\ndata: {json.dumps(_gone_event(vid))}\n\n",
                        mimetype="text/event-stream", headers=headers)
    release = stream_slot()
    if release is None:
        # Every stream slot is taken: the browser tries again later (and polls after a few tries).
        return Response(f"retry: {BUSY_RETRY_MS}\n\n", mimetype="text/event-stream", headers=headers)

    def frames():
        yield "retry: 1000\n\n"
        gen = h.open_stream(vid)
        last = since
        until = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < until and h.stream_current(vid, gen):
            _, found = h.wait_events(vid, last, HEARTBEAT_SECONDS, lambda: h.stream_current(vid, gen))
            for s, e in found:
                last = s
                yield f"id: {s}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n"
            if not found:
                yield ": keep-alive\n\n"

    response = Response(frames(), mimetype="text/event-stream", headers=headers)
    response.call_on_close(release)   # also when the client went away, or the stream never started
    return response


# --- QR path ---------------------------------------------------------------------------------

@bp.get("/qr")
@with_visit
def qr(v):
    if v.has_personal_data:
        return redirect(url_for("kiosk.next_question"))
    v.path = "qr"
    return screen(v, "qr_wait", "kiosk/qr.html", camera=get_config().devices.camera not in ("none", ""))


@bp.post("/qr")
@with_visit
def qr_post(v):
    text = (request.form.get("code") or "").strip()
    if not text:
        v.error = "empty_code"
        return redirect(url_for("kiosk.qr"))
    try:
        nxt = hub().open_code(v, text, get_db())
    except MadoguchiError as e:
        v.error = e.code
        return redirect(url_for("kiosk.qr"))
    return redirect(url_for(SCREEN_URLS[nxt]))


# --- card path -------------------------------------------------------------------------------

@bp.get("/card")
@with_visit
def card(v):
    if v.card:
        return redirect(url_for("kiosk.purpose"))
    v.path = "card"
    if hub().card_present and not v.error:
        return redirect(url_for("kiosk.card_pin"))
    return screen(v, "card_wait", "kiosk/card.html")


CLERK_CARD_ERRORS = ("blocked", "last_try_refused", "last_try")


@bp.get("/card/pin")
@with_visit
def card_pin(v):
    if v.card:
        return redirect(url_for("kiosk.purpose"))
    try:
        tries = hub().tries_left(v)
    except MadoguchiError as e:
        return _card_error(v, e)
    if tries.tries <= 1:
        v.error = "blocked" if tries.tries <= 0 else "last_try"
        return redirect(url_for("kiosk.card_clerk"))
    if not tries.pin_required:
        # A licence issued without a PIN: nothing to type, the reader uses the card's dummy PIN.
        try:
            hub().read_card(v, "")
        except MadoguchiError as e:
            return _card_error(v, e)
        return redirect(url_for("kiosk.purpose"))
    return screen(v, "card_pin", "kiosk/pin.html", tries=tries.tries, card_kind=tries.card)


def _card_error(v: flow.Visit, e: MadoguchiError):
    code = e.code
    if code in ("blocked", "last_try_refused"):
        v.error = code
        return redirect(url_for("kiosk.card_clerk"))
    if code == "card_removed":
        hub().wipe(v, "card_removed")
        return redirect(url_for("kiosk.index", notice="card_removed"))
    v.error = code if code in ("no_card", "unknown_card", "no_reader") else "card_error"
    if code not in ("no_card", "unknown_card", "no_reader"):
        log.warning("card reader error: %s", code)
    return redirect(url_for("kiosk.card"))


@bp.post("/card/pin")
@with_visit
def card_pin_post(v):
    if request.form.get("action") == "cancel":
        hub().wipe(v, "cancelled")
        return redirect(url_for("kiosk.index", notice="cancelled"))
    pin = unicodedata.normalize("NFKC", request.form.get("pin") or "")
    if not (len(pin) == 4 and pin.isascii() and pin.isdigit()):
        # Checked here, so a mistyped PIN never reaches the card and costs no try.
        v.error = "pin_format"
        return redirect(url_for("kiosk.card_pin"))
    try:
        hub().read_card(v, pin)
    except MadoguchiError as e:
        from hardware.cards.errors import WrongPin  # plain Python: needs no device library
        if isinstance(e, WrongPin):
            v.tries = e.tries_left
            if e.tries_left <= 1:
                v.error = "last_try"
                return redirect(url_for("kiosk.card_clerk"))
            v.error = "wrong_pin"
            return redirect(url_for("kiosk.card_pin"))
        return _card_error(v, e)
    finally:
        pin = None  # noqa: F841
    return redirect(url_for("kiosk.purpose"))


@bp.get("/card/clerk")
@with_visit
def card_clerk(v):
    reason = v.error if v.error in CLERK_CARD_ERRORS else "last_try"
    v.error = None
    v.screen = "card_clerk"
    return render_template("kiosk/clerk.html", visit=v, screen="card_clerk", reason=reason, error=None)


# --- the visitor's own exchange log ("who used my information") --------------------------------

OWN_LOG_PAGE_SIZE = 2      # entries a screen: large type, turned by touch, never a small scroll


def _own_log_rows(v: flow.Visit):
    """The rows of the visit's card-read person, newest first; (None, code) when refused."""
    from core.exchange_view import rows
    from core.site import current_site
    from kiosk.office import OfficeUnavailable

    try:
        shown = hub().own_log(v)
    except OfficeUnavailable as e:
        log.warning("the office could not give a person's log: %s", e.code)
        return None, "own_log_unreachable"
    except MadoguchiError as e:
        return None, e.code
    return rows(shown, hub().catalogue, lang(), current_site()), None


def _own_log_page(v: flow.Visit, *, printed: bool = False, print_error: str | None = None):
    from web.exchange_words import HEADERS, texts

    found, refused = _own_log_rows(v)
    if found is None:
        v.screen = "own_log"
        status = 403 if refused == "own_log_needs_card" else 503
        return render_template("kiosk/own_log.html", visit=v, screen="own_log", error=refused, entries=None,
                               page=1, pages=1), status
    pages = max(1, math.ceil(len(found) / OWN_LOG_PAGE_SIZE))
    page = min(max(parse_typed_number(request.args.get("page", ""), max_digits=4) or 1, 1), pages)
    shown = found[(page - 1) * OWN_LOG_PAGE_SIZE:page * OWN_LOG_PAGE_SIZE]
    body, status = screen(v, "own_log", "kiosk/own_log.html", entries=[texts(r) for r in shown], headers=HEADERS,
                          page=page, pages=pages, total=len(found), printed=printed, print_error=print_error)
    return body, 503 if print_error else status


@bp.get("/my-log")
@with_visit
def own_log(v):
    """The log of the person whose card this visit read: only them, never a name typed or sent."""
    return _own_log_page(v)


@bp.post("/my-log/print")
@with_visit
def own_log_print(v):
    """The visitor's own log on the kiosk's printer, in Japanese (the office's paper)."""
    from flask_babel import lazy_gettext

    from web.exchange_words import printed_log

    found, refused = _own_log_rows(v)
    if found is None:
        return _own_log_page(v)
    pdf = printed_log(hub().own_log(v), name=v.card.fields["name"], birth_date=v.card.fields["birth_date"],
                      where=lazy_gettext("the counter kiosk"), head=v.own_log_head)
    try:
        hub().print_own_log(v, pdf)
    except MadoguchiError as e:
        log.warning("the person's log could not be printed: %s", e.code)
        return _own_log_page(v, print_error=e.code)
    return _own_log_page(v, printed=True)


# --- procedures ------------------------------------------------------------------------------

@bp.route("/purpose", methods=["GET", "POST"])
@with_visit
def purpose(v):
    if not v.card and v.path != "card":
        return redirect(url_for("kiosk.index"))
    cat = hub().catalogue
    if request.method == "POST":
        event = request.form.get("event")
        if event in cat.life_events or event == "other":
            chosen_event = None if event == "other" else event
            if chosen_event != v.life_event:
                v.guide, v.guided = {}, False
            v.life_event = chosen_event
            if flow.next_guide_question(v, cat):
                return redirect(url_for("kiosk.guide"))
            return redirect(url_for("kiosk.procedures"))
        v.error = "choose_one"
        return redirect(url_for("kiosk.purpose"))
    return screen(v, "purpose", "kiosk/purpose.html", events=list(cat.life_events.values()))


@bp.route("/guide", methods=["GET", "POST"])
@with_visit
def guide(v):
    """手続きナビ: one yes/no question a screen, then the procedures it suggests."""
    cat = hub().catalogue
    questions = flow.guide_questions(v, cat)
    by_id = {q.id: q for q in questions}
    if request.method == "POST":
        q = by_id.get(request.form.get("q", ""))
        answer = request.form.get("answer")
        if q is None or answer not in ("yes", "no"):
            v.error = "choose_one"
            return redirect(url_for("kiosk.guide"))
        flow.answer_guide(v, q.id, answer == "yes", cat)
        if flow.next_guide_question(v, cat):
            return redirect(url_for("kiosk.guide"))
        return redirect(url_for("kiosk.procedures"))
    q = by_id.get(request.args.get("q", "")) or flow.next_guide_question(v, cat)
    if q is None:
        return redirect(url_for("kiosk.procedures"))
    index = questions.index(q)
    back = url_for("kiosk.guide", q=questions[index - 1].id) if index else url_for("kiosk.purpose")
    return screen(v, "guide", "kiosk/guide.html", question=q, step=index + 1, steps=len(questions),
                  answer=v.guide.get(q.id), back_url=back)


@bp.route("/procedures", methods=["GET", "POST"])
@with_visit
def procedures(v):
    cat = hub().catalogue
    if request.method == "POST":
        chosen = [p for p in request.form.getlist("procedure") if p in cat.procedures]
        if not chosen:
            v.error = "choose_procedure"
            return redirect(url_for("kiosk.procedures"))
        flow.choose_procedures(v, chosen, cat, v.life_event)
        return redirect(url_for("kiosk.next_question"))
    event = cat.life_events.get(v.life_event) if v.life_event else None
    reasons = flow.guide_suggestions(v, cat)
    if event:
        offered = list(event.procedures)
        flow.start_procedures(v, cat)   # first from the event and the guide, then as the visitor leaves it
        preselected = set(v.procedures)
    else:
        offered, preselected = [], set(v.procedures)
    others = [p for p in cat.procedures if p not in offered]
    back = url_for("kiosk.guide", q=flow.guide_questions(v, cat)[-1].id) if flow.guide_questions(v, cat) \
        else url_for("kiosk.purpose")
    return screen(v, "procedures", "kiosk/procedures.html", event=event,
                  offered=[cat.get(p) for p in offered], others=[cat.get(p) for p in others],
                  preselected=preselected, required=set(event.required) if event else set(),
                  reasons={pid: " ".join(text_in(r, lang()) for r in rs) for pid, rs in reasons.items()}, back_url=back)


# --- questions -------------------------------------------------------------------------------

@bp.get("/next")
@with_visit
def next_question(v):
    if not v.procedures:
        return redirect(url_for("kiosk.purpose" if v.path == "card" else "kiosk.index"))
    f = flow.next_field(v, hub().catalogue)
    if f is None:
        return redirect(url_for("kiosk.confirm"))
    return redirect(url_for("kiosk.ask", name=f.name))


def _field_or_404(v: flow.Visit, name: str):
    cat = hub().catalogue
    fields = {f.name: f for f in flow.applicable_fields(v, cat)}
    if name not in fields:
        abort(404)
    return fields[name]


def _after_answer(v: flow.Visit):
    if request.args.get("back") == "confirm":
        return redirect(url_for("kiosk.confirm"))
    return redirect(url_for("kiosk.next_question"))


def _previous_url(v: flow.Visit, name: str) -> str:
    if request.args.get("back") == "confirm":
        return url_for("kiosk.confirm")
    fields = [f for f in flow.applicable_fields(v, hub().catalogue)]
    names = [f.name for f in fields]
    if name in names:
        for f in reversed(fields[:names.index(name)]):
            if f.name in v.asked and v.sources.get(f.name) not in ("card", "licence", "qr"):
                return url_for("kiosk.ask", name=f.name)
    return url_for("kiosk.procedures") if v.path == "card" else url_for("kiosk.confirm")


@bp.route("/ask/<name>", methods=["GET", "POST"])
@with_visit
def ask(v, name):
    if name == "household":
        return household(v)
    f = _field_or_404(v, name)
    cat = hub().catalogue
    if request.method == "POST":
        if request.form.get("action") == "skip" and not f.required:
            flow.set_answer(v, f, None, cat)
            return _after_answer(v)
        ans = answers.read(f, request.form, cat, max_length=get_config().prereg.max_field_length, values=v.values)
        if not ans.ok:
            return screen(v, "ask", "kiosk/ask.html", field=field_view(f, v, request.form), errors=ans.errors,
                          back_url=_previous_url(v, name), back_to_confirm=request.args.get("back") == "confirm",
                          reading_field=_reading_field(v, f))
        flow.set_answer(v, f, ans.value, cat)
        _keep_reading(v, f)
        return _after_answer(v)
    prefill = flow.card_offer(v, f, cat)
    if prefill is None and f.type == "address" and f.name not in v.values:
        code = v.values.get("postal_code" if f.name == "address" else f.name.replace("address", "postal_code"))
        hit = lookup_postal_code(code) if code else None
        prefill = hit.text if hit else None
    elif f.type == "kana" and f.name not in v.values:
        prefill = v.readings.get(f.name)
    return screen(v, "ask", "kiosk/ask.html", field=field_view(f, v, None, prefill), errors=[],
                  back_url=_previous_url(v, name), back_to_confirm=request.args.get("back") == "confirm",
                  reading_field=_reading_field(v, f))


# --- kanji: candidates for kana typed on the on-screen keyboard (kiosk.kanji) -----------------

@bp.get("/kanji")
def kanji_candidates():
    """GET ?reading=たかはし&kind=name → {"reading", "candidates": [{text, reading, covers}]}."""
    raw, kind = request.args.get("reading", ""), request.args.get("kind", "text")
    if kind not in kanji.KINDS:
        return {"error": "bad_kind", "message": f"kind must be one of {', '.join(kanji.KINDS)}"}, 400
    reading = kanji.as_reading(raw) if len(raw) <= 2 * kanji.MAX_READING else None
    if reading is None:
        return {"error": "bad_reading",
                "message": f"reading must be 1 to {kanji.MAX_READING} kana (hiragana or katakana)"}, 400
    found = kanji.shared().candidates(reading, kind)
    return {"reading": reading, "candidates": [c.as_json() for c in found]}


def _reading_field(v: flow.Visit, f) -> str | None:
    """The kana question that reads this name (`kana` for `name`, X_kana for X), when the visit asks it."""
    if kanji.kind_for_field(f.name, f.type, bool(f.parts)) != "name":
        return None
    target = "kana" if f.name == "name" else f"{f.name}_kana"
    kana = next((x for x in flow.applicable_fields(v, hub().catalogue) if x.name == target), None)
    return target if kana is not None and kana.type == "kana" else None


def _keep_reading(v: flow.Visit, f) -> None:
    """The reading of the kanji the visitor chose (posted by kiosk.js as `family__reading`…),
    kept to start their kana question with. Without JavaScript there is none: nothing is kept."""
    target = _reading_field(v, f)
    if target is None:
        return
    keys = list(f.parts) if f.parts else ["value"]
    typed = [(request.form.get(k, "").strip(" \u3000"), to_katakana(request.form.get(f"{k}__reading", "")))
             for k in keys]
    reading = "\u3000".join(r for _, r in typed if r)
    if reading and len(reading) <= 2 * kanji.MAX_READING and is_katakana(reading) \
            and all(r for value, r in typed if value):
        v.readings[target] = reading
    else:
        v.readings.pop(target, None)


def _back_args() -> dict[str, str]:
    """The one query argument the household pages carry along (any other, such as `name`, is dropped)."""
    return {"back": "confirm"} if request.args.get("back") == "confirm" else {}


def household(v):
    f = _field_or_404(v, "household")
    cat = hub().catalogue
    if request.method == "POST":
        action = request.form.get("action", "done")
        members = list(v.values.get("household") or [])
        remove = parse_typed_number(action[7:]) if action.startswith("remove:") else None
        if remove is not None and remove < len(members):
            members.pop(remove)
            flow.set_answer(v, f, members, cat)
            return redirect(url_for("kiosk.ask", name="household", **_back_args()))
        v.asked.add("household")
        return _after_answer(v)
    members = [member_view(m, cat) for m in (v.values.get("household") or [])]
    return screen(v, "household", "kiosk/household.html", field=field_view(f, v, None), members=members,
                  back_url=_previous_url(v, "household"), back_args=_back_args())


@bp.route("/ask/household/member", methods=["GET", "POST"], defaults={"index": None})
@bp.route("/ask/household/member/<int:index>", methods=["GET", "POST"])
@with_visit
def household_member(v, index):
    f = _field_or_404(v, "household")
    cat = hub().catalogue
    members = list(v.values.get("household") or [])
    if index is not None and index >= len(members):
        abort(404)
    back = url_for("kiosk.ask", name="household", **_back_args())
    if request.method == "POST":
        ans = answers.read_member(request.form, cat, max_length=get_config().prereg.max_field_length)
        if not ans.ok:
            return screen(v, "member", "kiosk/member.html", form=request.form, errors=ans.errors, index=index,
                          relationships=cat.relationships, back_url=back, sexes=cat.field("sex"),
                          name_parts=answers.member_name_labels(cat, lang()),
                          member_questions=cat.member_questions(v.procedures),
                          bad={err.field.split(".")[-1]: err for err in ans.errors})
        member = ans.value
        if index is None:
            members.append(member)
        else:
            members[index] = member
        flow.set_answer(v, f, members, cat)
        return redirect(back)
    form = member_form(members[index], cat) if index is not None else {}
    return screen(v, "member", "kiosk/member.html", form=form, errors=[], index=index,
                  relationships=cat.relationships, back_url=back, sexes=cat.field("sex"),
                  name_parts=answers.member_name_labels(cat, lang()),
                  member_questions=cat.member_questions(v.procedures), bad={})


def member_form(member: dict, catalogue) -> dict:
    out = {k: member.get(k, "") for k in ("sex", "relationship")} | answers.member_name_inputs(member, catalogue)
    if member.get("birth_date"):
        y, m, d = member["birth_date"].split("-")
        out.update(birth_era="western", birth_year=y, birth_month=str(int(m)), birth_day=str(int(d)))
    return out


# --- confirm, print, done --------------------------------------------------------------------

@bp.get("/confirm")
@with_visit
def confirm(v):
    if v.finished:
        return redirect(url_for("kiosk.done"))
    if not v.procedures:
        return redirect(url_for("kiosk.index"))
    if v.application is not None:
        return redirect(url_for("kiosk.printing"))
    cat = hub().catalogue
    return screen(v, "confirm", "kiosk/confirm.html", sections=review_sections(v, cat),
                  missing=flow.missing_required(v, cat),
                  notices=[field_message(n) for n in notices(v.procedures, v.values, cat)])


@bp.post("/print")
@with_visit
def print_forms(v):
    h = hub()
    if v.finished:
        return redirect(url_for("kiosk.done"))
    try:
        h.submit(v, get_db())
    except AlreadyStored:
        # The same pre-registration became an application elsewhere first: nothing of this visit is kept.
        h.wipe(v, "prereg_in_use")
        session.pop(SESSION_KEY, None)
        return redirect(url_for("kiosk.index", notice="prereg_in_use"))
    except ValidationError as e:
        first = e.errors[0].field.split("[")[0] if e.errors else ""
        if first and first in {f.name for f in flow.applicable_fields(v, h.catalogue)}:
            return redirect(url_for("kiosk.ask", name=first, back="confirm"))
        return redirect(url_for("kiosk.confirm"))
    if v.print.state == "failed" and not v.print.retryable:
        return redirect(url_for("kiosk.printing"))
    v.status_base = v.status_base or request.host_url
    h.start_print(v)
    return redirect(url_for("kiosk.printing"))


@bp.get("/printing")
@with_visit
def printing(v):
    if v.finished:
        return redirect(url_for("kiosk.done"))
    if v.application is None:
        return redirect(url_for("kiosk.confirm"))
    return screen(v, "printing", "kiosk/printing.html", status=v.print)


@bp.get("/done")
@with_visit
def done(v):
    if not v.finished:
        return redirect(url_for("kiosk.confirm"))
    where = next_steps(v.next_steps, hub().catalogue, get_config().kiosk.office)
    return screen(v, "done", "kiosk/done.html", where=where, rated=session.get("kiosk_rated") == v.id)


@bp.post("/rate")
@with_visit
def rate(v):
    """The five faces of the done screen: kept apart from the visit (core.satisfaction)."""
    if not v.finished:
        return redirect(url_for("kiosk.confirm"))
    if session.get("kiosk_rated") != v.id:
        try:
            if hub().office is not None:
                hub().office.send_rating(request.form.get("score", ""), request.form.get("comment", ""))
            else:
                satisfaction.rate(get_db(), channel="kiosk", score=request.form.get("score", ""),
                                  comment=request.form.get("comment", ""), office=get_config().kiosk.office)
        except satisfaction.RatingRefused:
            return redirect(url_for("kiosk.done"))
        except MadoguchiError as e:      # the office server is away: the visit is not troubled
            log.warning("a rating could not be sent: %s", e.code)
        session["kiosk_rated"] = v.id
    return redirect(url_for("kiosk.done"))


# --- the emulated devices of the embedded default (demos and tests) --------------------------

def emulated_card_reader() -> bool:
    return get_config().devices.card_reader == "emulated"


@bp.context_processor
def emulator_helpers():
    if not emulated_card_reader():
        return {"emulator_personas": [], "emulator_pins": {}}
    return {"emulator_personas": emulator_personas(), "emulator_pins": emulator_pins()}


def _personas_folder():
    from pathlib import Path

    import hardware
    return Path(hardware.__file__).resolve().parent / "cards" / "personas"


def emulator_personas() -> list[str]:
    return sorted(p.stem for p in _personas_folder().glob("*.toml"))


def emulator_pins() -> dict[str, str]:
    """Each demo card's PIN, shown on the demo panel (test cards: their PINs are in the files)."""
    from hardware.cards.emulator import persona as personas
    out = {}
    for name in emulator_personas():
        try:
            p = personas.load(_personas_folder() / f"{name}.toml")
        except MadoguchiError:
            continue
        out[name] = p.pin if p.card == "mynumber" else (p.pin1 if p.pin_set else "")
    return out


emulator_bp = Blueprint("kiosk_emulator", __name__)
emulator_bp.before_request(only_the_kiosks_browser)


@emulator_bp.post("/card")
def emulator_card():
    """Put an emulated card on the emulated reader, or take it away (registered only with it)."""
    reader = hub().devices.reader()
    persona = request.form.get("persona", "")
    if request.form.get("action") == "remove":
        reader.remove()
    elif request.form.get("action") == "reset":
        # Every demo card back as its file describes it: tries counters full again, off the reader.
        reader.slot.forget()
        hub().on_card_event({"type": "removed", "reader": reader.slot.name})
    elif persona in emulator_personas():
        reader.insert(_personas_folder() / f"{persona}.toml")
        # To the card screen, as a real card moves this visit on: not back to `next`, which
        # from the start screen would begin a new visit while the card's event moves the old one.
        return redirect(url_for("kiosk.card"))
    else:
        abort(400)
    return redirect(_safe_next(request.form.get("next")))
