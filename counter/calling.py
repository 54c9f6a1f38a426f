"""呼出: the clerks call the next reception number to their window from the queue; the waiting
area's TV (/counter/display, 1920×1080) shows the numbers called to each window, large, and
sounds a chime and says the number. The display shows numbers and windows only, so it needs no
sign-in; calling does. A call is its window's office's; a display shows one office's calls
(`?office=ID`, else this server's own office: [kiosk].office, the main one when unset)."""
from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from core import calling as calls
from core.catalogue import text_in
from core.site import current_site
from core.users import Role
from counter import casework
from counter.auth import current_clerk, requires
from counter.blueprint import bp
from web import get_config, get_db

WINDOW_KEY = "counter_window"     # the window this clerk calls to (remembered for the session)


def windows() -> list[dict[str, str]]:
    """The windows of the site's offices, as the display shows them (Japanese: 1階 3番窓口), each
    with its office; `key` ("honcho/1階 3番窓口") tells apart two offices' windows of one label."""
    out = []
    for office in current_site().offices:
        for section in office.sections:
            if not section.window:
                continue
            label = f"{section.floor}階 {section.window}番窓口" if section.floor else f"{section.window}番窓口"
            out.append({"key": f"{office.id}/{label}", "label": label, "section": text_in(section.name, "ja"),
                        "office": text_in(office.name, "ja"), "office_id": office.id})
    return out


def window_of(key: str | None) -> dict[str, str] | None:
    return next((w for w in windows() if w["key"] == key), None)


def current_window() -> dict[str, str] | None:
    """The window this clerk called to last (None before, or when it is gone)."""
    return window_of(session.get(WINDOW_KEY))


def own_office() -> str:
    """This server's office ([kiosk].office, the main one when unset): the display's default."""
    return calls.office_of(get_config().kiosk.office)


def next_waiting(db, office: str) -> str | None:
    """The reception number waiting longest at `office` that nobody has called there yet today
    (an application made before offices were kept counts as the main office's)."""
    called = calls.called_numbers(db, casework.today())
    for row in casework.queue(db, casework.today(), [str(s) for s in casework.OPEN_STATES]):
        number = row.app.reception_number
        if number and calls.office_of(row.app.office) == office and (office, number) not in called:
            return number
    return None


@bp.post("/call")
@requires(Role.CLERK)
def call_number():
    """Call the next number (or the one given) to the clerk's window."""
    window = window_of(request.form.get("window", ""))
    if window is None:
        flash(_("Choose your window first."), "error")
        return redirect(url_for("counter.index"))
    session[WINDOW_KEY] = window["key"]
    db = get_db()
    number = request.form.get("number", "").strip().upper() or next_waiting(db, window["office_id"])
    if number is None:
        flash(_("Nobody is waiting to be called."))
        return redirect(url_for("counter.index"))
    try:
        calls.call(db, number, window["label"], current_clerk().actor, office=window["office_id"])
    except calls.CallRefused:
        flash(_("%(number)s is not a reception number.", number=number[:12]), "error")
        return redirect(url_for("counter.index"))
    flash(_("%(number)s was called to %(window)s.", number=number, window=window["label"]))
    return redirect(url_for("counter.index"))


def displayed_office() -> str:
    """The office of `?office=ID` (404 for an id the site does not have), else this server's."""
    asked = request.args.get("office")
    if asked is None:
        return own_office()
    if not any(o.id == asked for o in current_site().offices):
        abort(404)
    return asked


@bp.get("/display")
def display():
    """The waiting area's display of one office: no sign-in, numbers and windows only."""
    office = displayed_office()
    return render_template("counter/display.html", calls=calls.calls_of(get_db(), casework.today(), office, limit=12),
                           office=office, municipality=text_in(current_site().name, "ja"),
                           refresh_ms=int(get_config().counter.display_refresh_seconds * 1000))


@bp.get("/display/calls")
def display_calls():
    """What the display polls: its office's calls after the last one it has (the newest first)."""
    office = displayed_office()
    try:
        after = max(0, int(request.args.get("after", "0")[:12]))
    except ValueError:
        after = 0
    rows = calls.calls_of(get_db(), casework.today(), office, after=after, limit=12)
    return jsonify([{"id": r["id"], "number": r["reception_number"], "window": r["window"],
                     "at": r["called_at"].astimezone(casework.local_tz()).strftime("%H:%M"),
                     "words": calls.announcement(r["reception_number"], r["window"])}
                    for r in rows])


SPEAKER = "counter.speaker"


@bp.record_once
def _open_speaker(state) -> None:
    from hardware.speech import open_speaker
    state.app.extensions[SPEAKER] = open_speaker(state.app.config["MADOGUCHI"])


@bp.get("/display/speech/<int(max=9223372036854775807):call_id>")   # SQLite's largest key
def display_speech(call_id: int):
    """A call said aloud by the office's own speech (Open JTalk, as the kiosk speaks), made
    from the call itself: the display cannot have any other text said. 404/503 → the browser's voice."""
    from hardware.speech import SpeechError
    call = calls.call_by_id(get_db(), call_id)
    speaker = current_app.extensions.get(SPEAKER)
    if call is None:
        return "", 404
    if speaker is None or speaker.problem():
        return "", 503
    try:
        spoken = speaker.speak(calls.announcement(call["reception_number"], call["window"]), "ja")
    except SpeechError:
        return "", 503
    response = make_response(spoken.wav)
    response.headers["Content-Type"] = "audio/wav"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
