"""URL map of the kiosk surface (the visitor's touch flow), and what every kiosk page shares:
only the paired browser gets in, the visit, the step bar, never caching personal pages.
The handlers are in kiosk/views.py; what pages show for codes and values in kiosk/labels.py.

start → (QR | card → PIN) → purpose → procedures → questions → confirm → print → done.
Every step is decided on the server (`kiosk.hub`, `kiosk.flow`); the page's JavaScript only
follows the server's events, drives the on-screen keypads and the idle prompt.
"""
from __future__ import annotations

import logging
from functools import wraps

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from core.errors import ConfigError
from core.store.db import open_from_config
from kiosk import flow, pairing
from kiosk.hub import Hub
from kiosk.labels import field_message, format_day, message_for, source_label
from kiosk.reception import PREFIX_RE
from web import add_health_check, add_metrics_hook, add_service, add_start_note, get_config, get_db

bp = Blueprint("kiosk", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
log = logging.getLogger("madoguchi.kiosk")

SESSION_KEY = "kiosk_visit"
NOTICES = ("card_removed", "idle_timeout", "cancelled", "prereg_in_use")
SCREEN_URLS = {  # names the hub uses in its "navigate" events
    "start": "kiosk.index", "qr": "kiosk.qr", "card": "kiosk.card", "card_pin": "kiosk.card_pin",
    "ask": "kiosk.next_question", "confirm": "kiosk.confirm", "printing": "kiosk.printing", "done": "kiosk.done",
}


def init_app(app) -> None:
    config = app.config["MADOGUCHI"]
    if not PREFIX_RE.match(config.kiosk.reception_prefix):
        raise ConfigError("kiosk.reception_prefix must be 1 to 3 capital letters", key="kiosk.reception_prefix")
    if config.kiosk.office_server_url:
        from kiosk.office import check_kiosk_pc
        check_kiosk_pc(config)
    with app.test_request_context():
        urls = {name: url_for(endpoint) for name, endpoint in SCREEN_URLS.items()}
    hub = Hub(config, urls=urls)
    app.extensions["kiosk.hub"] = hub
    # Devices start only under `madoguchi serve`, never in a test client.
    add_service(app, lambda _app: _app.extensions["kiosk.hub"].start_services())
    add_service(app, start_kanji_dictionary)
    if config.devices.card_reader == "emulated":
        # The embedded demo: only its emulated reader gets the demo panel's routes.
        from kiosk.views import emulator_bp
        app.register_blueprint(emulator_bp, url_prefix="/kiosk/emulator")
    add_start_note(app, pairing_note)
    add_health_check(app, "reader", lambda: reader_health(hub))
    if hub.office is not None:     # a kiosk PC: what waits for the office server
        add_health_check(app, "office_uploads", lambda: hub.office.health(get_db()))
        add_metrics_hook(app, lambda: hub.office.health(get_db()))   # it sets the gauge too


def reader_health(hub: Hub) -> dict:
    state = hub.devices.reader_status()
    return {"ok": state == "ready", "state": state}


def start_kanji_dictionary(_app):
    """The kanji candidates' dictionaries load in the background, before the first key press."""
    from kiosk import kanji
    kanji.shared().start_loading()
    return lambda: None


def pairing_note(app, base_url: str) -> str | None:
    """The embedded demo prints a pairing URL at start, so trying it stays one step; a real
    kiosk only hears how to pair while no browser is paired."""
    config = app.config["MADOGUCHI"]
    kiosk_id = config.kiosk.kiosk_id
    db = open_from_config(config)
    try:
        if config.devices.card_reader != "emulated":
            if pairing.has_browser(db, kiosk_id):
                return None
            return (f"no browser is paired as kiosk {kiosk_id} yet:"
                    " run `madoguchi kiosk pair` and open the URL it prints")
        code = pairing.new_code(db, kiosk_id)
    finally:
        db.conn.close()
    return (f"to use a browser as kiosk {kiosk_id}, open {pairing.pairing_url(base_url, code)} in it"
            f" (once, within {pairing.CODE_MINUTES} minutes; `madoguchi kiosk pair` makes another)")


def hub() -> Hub:
    return current_app.extensions["kiosk.hub"]


# --- only the kiosk's own browser reaches its visits and devices (kiosk.pairing) -------------

OPEN_ENDPOINTS = ("kiosk.static", "kiosk.pair", "kiosk.pair_post")


def kiosk_browser() -> bool:
    """Whether the request comes from the browser paired as this kiosk."""
    if "kiosk_browser" not in g:
        g.kiosk_browser = pairing.is_paired(get_db(), get_config().kiosk.kiosk_id,
                                            request.cookies.get(pairing.COOKIE))
    return g.kiosk_browser


def only_the_kiosks_browser():
    """Any other browser gets "this is not a kiosk": no visit is made, no device is touched."""
    # The page follows the events from before its handler looked at the visit, so an event
    # published while it ran (a card put down as the page was made) still reaches it.
    g.kiosk_event_seq = hub().seq
    if request.endpoint in OPEN_ENDPOINTS or kiosk_browser():
        return None
    return render_template("kiosk/not_a_kiosk.html", visit=None, screen="outside", error=None), 403


bp.before_request(only_the_kiosks_browser)


def clerk_mode() -> bool:
    return get_config().kiosk.mode == "clerk-assisted"


@bp.context_processor
def kiosk_helpers():
    cfg = get_config()
    return {
        "clerk_mode": clerk_mode(),
        "idle_seconds": cfg.kiosk.idle_seconds,
        "warning_seconds": cfg.kiosk.idle_warning_seconds,
        "event_seq": g.get("kiosk_event_seq", hub().seq),
        "config_default_lang": cfg.languages.default,
        "message_for": message_for,
        "field_message": field_message,
        "source_label": source_label,
        "format_day": format_day,
        "step_bar": steps_for(),
    }


def steps_for():
    """The step bar: (label, state) for each step of the visitor's path."""
    v = hub().visits.get(session.get(SESSION_KEY))
    endpoint = request.endpoint or ""
    if v is None or endpoint in ("kiosk.index", "kiosk.language") or v.screen == "start":
        return []
    if v.path == "qr":
        names = [_("Scan"), _("Check"), _("Print")]
        at = {"kiosk.qr": 0, "kiosk.qr_post": 0, "kiosk.confirm": 1, "kiosk.printing": 2,
              "kiosk.done": 2}.get(endpoint, 1)
    else:
        names = [_("Card"), _("Procedures"), _("Details"), _("Check"), _("Print")]
        at = {"kiosk.card": 0, "kiosk.card_pin": 0, "kiosk.card_pin_post": 0, "kiosk.card_clerk": 0,
              "kiosk.purpose": 1, "kiosk.own_log": 1, "kiosk.own_log_print": 1, "kiosk.guide": 1, "kiosk.procedures": 1,
              "kiosk.confirm": 3, "kiosk.printing": 4,
              "kiosk.done": 4}.get(endpoint, 2)
    done = endpoint == "kiosk.done"
    return [(n, "done" if (i < at or done) else ("current" if i == at else "todo")) for i, n in enumerate(names)]


@bp.after_request
def never_keep(response):
    if request.endpoint == "kiosk.static":
        # The kiosk's own CSS, JS and icons hold nothing personal; their URLs carry a content
        # hash (asset_url), so they are kept and not fetched again with every screen.
        if request.args.get("v"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
    # Personal pages must not stay in the browser: no cache, no back-forward cache.
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    return response


_asset_versions: dict[str, str] = {}


@bp.app_template_global()
def asset_url(filename: str) -> str:
    """A kiosk static file's URL with a hash of its content, so browsers may keep it."""
    version = _asset_versions.get(filename)
    if version is None:
        import hashlib
        from pathlib import Path
        data = (Path(bp.static_folder) / filename).read_bytes()
        version = _asset_versions[filename] = hashlib.sha256(data).hexdigest()[:12]
    return url_for("kiosk.static", filename=filename, v=version)


def current_visit() -> flow.Visit | None:
    v = hub().visit(session.get(SESSION_KEY))
    if v is not None and request.endpoint not in ("kiosk.events", "kiosk.event_stream"):
        v.touch()
        if request.endpoint != "kiosk.touch":
            # A new screen: the previous screen's event stream (or long poll) ends now, so it
            # never holds one of the server's threads while the new screen loads.
            hub().supersede_streams(v.id)
    return v


def with_visit(view):
    """The view needs a live visit; without one the visitor is sent to the start screen."""
    @wraps(view)
    def wrapper(*args, **kw):
        v = current_visit()
        if v is None:
            why = hub().ended_because(session.get(SESSION_KEY))
            return redirect(url_for("kiosk.index", **({"notice": why} if why in NOTICES else {})))
        return view(v, *args, **kw)
    return wrapper


def screen(v: flow.Visit, name: str, template: str, **context):
    v.screen = name
    error, v.error = v.error, None
    # What was sent is shown again with its problems: 400, as on the other surfaces.
    status = 400 if request.method == "POST" and (error or context.get("errors")) else 200
    return render_template(template, visit=v, screen=name, error=error, **context), status


from kiosk import speech, views  # noqa: E402,F401  (routes register on bp; speech: the voice guidance)
