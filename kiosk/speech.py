"""Voice guidance: the kiosk's screens read aloud (the speech button of every screen).

The page (kiosk/static/speech.js) reads the screen's own words: its title, lead, questions,
hints, notices and buttons. It never reads values — a name or address from the card or typed
by the visitor, the confirm page's answers, the household's members — because a kiosk stands
in a public hall and anyone near it would hear them; nor the PIN pad, its dots or anything
typed into a field. Japanese and やさしい日本語 are made here by Open JTalk (hardware.speech)
and kept in a cache by a hash of the text; other languages are read by the browser's own
speech synthesis when it has a voice for them.

POST /kiosk/speech {"text", "lang"} → audio/wav (X-Speech-Cache: hit | miss), or JSON:
400 no text / too long / unknown language, 409 {"use": "browser"} (not made here: another
language, or speech is off), 503 {"use": "browser"} (cannot speak now: not installed, busy).
Like every kiosk route it answers only the paired kiosk browser (kiosk.blueprint).
"""
from __future__ import annotations

import logging

from flask import current_app, jsonify, make_response, request, url_for
from flask_babel import gettext as _

from core.config import LANGUAGE_CODES
from hardware.speech import LANGUAGES, MAX_CHARS, SpeechError, open_speaker
from kiosk.blueprint import bp
from kiosk.labels import lang
from web import add_start_note, get_config

log = logging.getLogger("madoguchi.kiosk.speech")
EXTENSION = "kiosk.speaker"
BUSY_RETRY_SECONDS = 2


@bp.record_once
def _setup(state) -> None:
    app = state.app
    app.extensions[EXTENSION] = open_speaker(app.config["MADOGUCHI"])
    add_start_note(app, speech_note)


def speech_note(app, base_url: str) -> str | None:
    """`madoguchi serve` says when the kiosk cannot speak Japanese (and why), once."""
    spk = app.extensions.get(EXTENSION)
    problem = spk.problem() if spk is not None else None
    if problem:
        return (f"the kiosk's voice guidance cannot speak Japanese: {problem};"
                " its screens are read by the browser's voices where it has one")
    return None


def speaker():
    """The kiosk's speaker, or None when [devices].speech is "off"."""
    return current_app.extensions.get(EXTENSION)


@bp.context_processor
def speech_helpers():
    cfg = get_config()
    if cfg.devices.speech == "off":
        return {"speech": None}
    # The visitor's choice lasts for the visit in the page's sessionStorage; the start screen
    # opened afresh (no ?lang=, as after "Start over", the idle wipe or the last screen)
    # begins a new visit, which starts as [kiosk].speech_on_start says.
    return {"speech": {
        "url": url_for("kiosk.speak"),
        "here": lang() in LANGUAGES,
        "on_start": cfg.kiosk.speech_on_start,
        "fresh": request.endpoint == "kiosk.index" and "lang" not in request.args,
    }}


def _answer(status: int, error: str, message: str, **extra):
    body = {"error": error, "message": message, **extra}
    response = make_response(jsonify(body), status)
    if status == 503 and error == "busy":
        response.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
    return response


@bp.post("/speech")
def speak():
    sent = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(sent, dict):
        return _answer(400, "bad_request", _("Send the text to read aloud and its language."))
    text, language = sent.get("text"), sent.get("lang") or lang()
    if not isinstance(text, str) or not isinstance(language, str) or language not in LANGUAGE_CODES:
        return _answer(400, "bad_request", _("Send the text to read aloud and its language."))
    text = " ".join(text.split())
    if not text:
        return _answer(400, "empty", _("There is nothing to read aloud."))
    if len(text) > MAX_CHARS:
        return _answer(400, "too_long", _("This text is too long to read aloud at once (at most %(max)s characters).",
                                          max=MAX_CHARS), max=MAX_CHARS)
    if language not in LANGUAGES:
        return _answer(409, "other_language", "read by the browser's speech synthesis", use="browser")
    spk = speaker()
    if spk is None:
        return _answer(409, "off", "speech is off on this kiosk", use="none")
    try:
        speech = spk.speak(text, language)
    except SpeechError as e:
        # The text is never logged: a client may send anything.
        if e.reason != "busy":
            log.warning("speech failed (%d characters): %s", len(text), e)
        return _answer(503, e.reason, _("Reading aloud is not available right now."), use="browser")
    response = make_response(speech.wav)
    response.mimetype = "audio/wav"
    response.headers["X-Speech-Cache"] = "hit" if speech.cached else "miss"
    return response
