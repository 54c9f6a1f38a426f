"""呼出: the clerks call the next reception number to their window from the queue; the waiting
area's TV (/counter/display, 1920×1080) shows the numbers called to each window, large, and
sounds a chime and says the number. The display shows numbers and windows only, so it needs no
sign-in; calling does."""
from __future__ import annotations

from flask import current_app, flash, jsonify, make_response, redirect, render_template, request, session, url_for
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
    """The windows of the site's offices, as the display shows them (Japanese: 1階 3番窓口)."""
    out = []
    for office in current_site().offices:
        for section in office.sections:
            if not section.window:
                continue
            label = f"{section.floor}階 {section.window}番窓口" if section.floor else f"{section.window}番窓口"
            out.append({"label": label, "section": text_in(section.name, "ja"), "office": text_in(office.name, "ja")})
    return out


def current_window() -> str | None:
    chosen = session.get(WINDOW_KEY)
    return chosen if chosen in {w["label"] for w in windows()} else None


def next_waiting(db) -> str | None:
    """The reception number waiting longest that nobody has called yet today."""
    called = calls.called_numbers(db, casework.today())
    for row in casework.queue(db, casework.today(), [str(s) for s in casework.OPEN_STATES]):
        number = row.app.reception_number
        if number and number not in called:
            return number
    return None


@bp.post("/call")
@requires(Role.CLERK)
def call_number():
    """Call the next number (or the one given) to the clerk's window."""
    labels = {w["label"] for w in windows()}
    window = request.form.get("window", "")
    if window not in labels:
        flash(_("Choose your window first."), "error")
        return redirect(url_for("counter.index"))
    session[WINDOW_KEY] = window
    db = get_db()
    number = request.form.get("number", "").strip().upper() or next_waiting(db)
    if number is None:
        flash(_("Nobody is waiting to be called."))
        return redirect(url_for("counter.index"))
    try:
        calls.call(db, number, window, current_clerk().actor)
    except calls.CallRefused:
        flash(_("%(number)s is not a reception number.", number=number[:12]), "error")
        return redirect(url_for("counter.index"))
    flash(_("%(number)s was called to %(window)s.", number=number, window=window))
    return redirect(url_for("counter.index"))


@bp.get("/display")
def display():
    """The waiting area's display: no sign-in, numbers and windows only."""
    return render_template("counter/display.html", calls=calls.calls_of(get_db(), casework.today(), limit=12),
                           municipality=text_in(current_site().name, "ja"),
                           refresh_ms=int(get_config().counter.display_refresh_seconds * 1000))


@bp.get("/display/calls")
def display_calls():
    """What the display polls: the calls after the last one it has (the newest first)."""
    try:
        after = max(0, int(request.args.get("after", "0")[:12]))
    except ValueError:
        after = 0
    rows = calls.calls_of(get_db(), casework.today(), after=after, limit=12)
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
