"""The app factory: one Flask app, registering only the surfaces asked for."""
from __future__ import annotations

import importlib
import threading
from pathlib import Path

from flask import Flask, abort, g, jsonify, make_response, render_template, request, send_file

from core.catalogue import get_catalogue, text_in
from core.config import LANGUAGES, Config, load_config
from core.json_input import BadJSON, loads
from core.keys import session_secret
from core.site import SCHEMA_DIR, activate, site_for
from core.store.db import can_write, is_unwritable, open_from_config, reopen_if_dropped
from web import city, errors, i18n, monitoring, security
from web.monitoring import add_health_check, add_metrics_hook

SURFACES = ("prereg", "kiosk", "counter")
HERE = Path(__file__).resolve().parent


def resolve_surfaces(surfaces: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(surfaces, str):
        surfaces = list(SURFACES) if surfaces == "all" else [surfaces]
    bad = [s for s in surfaces if s not in SURFACES]
    if bad:
        raise ValueError(f"unknown surface(s): {', '.join(bad)}")
    return list(surfaces)


PUBLISHED_SCHEMAS = ("procedure", "layout", "site", "offices")


def create_app(config: Config | None = None, surfaces: str | list[str] | None = None) -> Flask:
    config = config or load_config()
    # The city's folder first: a broken one stops the start, naming the file and the key.
    site = site_for(config)
    activate(site)
    app = Flask(__name__)
    app.config.update(
        MADOGUCHI=config,
        SECRET_KEY=session_secret(config),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.server.behind_tls,
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.extensions["madoguchi.site"] = site
    app.extensions["madoguchi.services"] = []
    app.extensions["madoguchi.start_notes"] = []
    app.extensions["madoguchi.surfaces"] = resolve_surfaces(surfaces or config.server.surfaces)

    if config.server.behind_tls:
        # Behind the TLS reverse proxy: the client's address (per-client rate limits) and
        # https URLs come from the proxy's X-Forwarded-For / X-Forwarded-Proto (one hop).
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    city.init_app(app)
    monitoring.init_app(app)

    app.extensions["madoguchi.db_per_thread"] = threading.local()
    app.extensions["madoguchi.stream_slots"] = StreamSlots(config.server.stream_threads)

    @app.teardown_appcontext
    def end_db_use(exc):
        # The connection stays open for the thread's next request (see get_db); only a
        # transaction a failed request left open is undone.
        db = g.pop("db", None)
        if db is not None and db.conn.in_transaction:
            db.conn.rollback()

    @app.context_processor
    def template_helpers():
        return {
            "t": lambda table: text_in(table, g.get("lang", config.languages.default)),
            "surfaces": app.extensions["madoguchi.surfaces"],
        }

    for name in app.extensions["madoguchi.surfaces"]:
        module = importlib.import_module(f"{name}.blueprint")
        app.register_blueprint(module.bp, url_prefix=f"/{name}")
        if hasattr(module, "init_app"):
            module.init_app(app)

    if {"kiosk", "counter"} & set(app.extensions["madoguchi.surfaces"]):
        add_health_check(app, "printer", lambda: printer_health(config))

    if "counter" in app.extensions["madoguchi.surfaces"]:
        # The office server takes applications from kiosk PCs (kiosk/office.py).
        from kiosk.office import api_bp as kiosk_office_api
        app.register_blueprint(kiosk_office_api, url_prefix="/kiosk/api/v1")

    @app.get("/")
    def index():
        return render_template("index.html", catalogue=get_catalogue())

    @app.get("/schemas/<name>.schema.json")
    def published_schema(name):
        """The JSON Schemas of a city's files (procedure, layout, site, offices), for its editor."""
        if name not in PUBLISHED_SCHEMAS or not (SCHEMA_DIR / f"{name}.schema.json").is_file():
            abort(404)
        response = send_file(SCHEMA_DIR / f"{name}.schema.json", mimetype="application/schema+json")
        response.headers["Access-Control-Allow-Origin"] = "*"   # an editor on another host may fetch it
        return response

    @app.get("/healthz")
    def healthz():
        """Whether this server can work (503 only when its database cannot be written, without
        which nothing works) and the state of what it relies on: the outbox, the printer, the
        reader. A failing part makes it "degraded", for the monitoring to alert on."""
        try:
            writable = can_write(get_db())
        except Exception as e:
            if not is_unwritable(e):
                raise
            writable = False
        checks = {"database": {"ok": writable, "state": "writable" if writable else "not writable"}}
        checks.update(monitoring.health_checks(app))
        healthy = all(check["ok"] for check in checks.values())
        body = {"ok": healthy, "status": "ok" if healthy else ("degraded" if writable else "down"),
                "surfaces": app.extensions["madoguchi.surfaces"],
                "database": checks["database"]["state"], "checks": checks}
        if writable:
            return body
        return body, 503, {"Retry-After": str(errors.RETRY_AFTER_SECONDS)}

    return app


def printer_health(config: Config) -> dict:
    from hardware.printer import open_printer
    state = open_printer(config).status()
    return {"ok": state in ("ready", "idle"), "state": state, "queue": config.devices.printer}


def get_db():
    """The request's database connection: one per server thread, opened on first use and kept.

    Opening and closing a connection per request costs milliseconds: closing the last
    connection to a WAL database checkpoints it and deletes the WAL file every time.
    """
    if "db" not in g:
        from flask import current_app
        local = current_app.extensions["madoguchi.db_per_thread"]
        db, config = getattr(local, "db", None), current_app.config["MADOGUCHI"]
        # PostgreSQL's server went away (a restart, a failover): a new one.
        g.db = local.db = (open_from_config(config, for_request=True) if db is None
                           else reopen_if_dropped(db, config, for_request=True))
    return g.db


class StreamSlots:
    """The worker threads set aside for long-lived answers (event streams, long polls).

    `madoguchi serve` runs [server].threads for pages plus [server].stream_threads for these.
    A long-lived answer that finds every slot taken answers at once instead of waiting, so
    however many streams clients open, they never hold a thread that serves pages.
    """

    def __init__(self, slots: int):
        self._free = threading.BoundedSemaphore(slots) if slots > 0 else None

    def take(self):
        """A slot, as its release function (safe to call twice), or None when all are taken."""
        if self._free is None or not self._free.acquire(blocking=False):
            return None
        released = threading.Event()
        lock = threading.Lock()

        def release():
            with lock:
                if not released.is_set():
                    released.set()
                    self._free.release()
        return release


def stream_slot():
    """Take a slot for a long-lived answer (see StreamSlots): its release function, or None."""
    from flask import current_app
    return current_app.extensions["madoguchi.stream_slots"].take()


def get_config() -> Config:
    from flask import current_app
    return current_app.config["MADOGUCHI"]


def json_body():
    """The request's JSON body through the one safe loader (core.json_input), or None when the
    body is not sent as JSON. A body that is not acceptable JSON (malformed, nested too deep,
    lone surrogates, NaN) ends the request with 400 `{"error": code, "message": …}`."""
    if not request.is_json:
        return None
    try:
        return loads(request.get_data(cache=True))
    except BadJSON as e:
        abort(make_response(jsonify({"error": e.code, "message": str(e)}), 400))


def add_service(app: Flask, start) -> None:
    """Register a background service for `madoguchi serve`: `start(app)` returns a stop callable."""
    app.extensions["madoguchi.services"].append(start)


def background_service(name: str, loop, join_seconds: float = 5.0):
    """Start `loop(stop)` on a daemon thread named `name`; returns the stop callable a service's
    start hook returns (sets `stop`, then waits up to `join_seconds` for the loop to end)."""
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(stop,), name=name, daemon=True)
    thread.start()

    def stop_service():
        stop.set()
        thread.join(join_seconds)
    return stop_service


def add_start_note(app: Flask, note) -> None:
    """Something `madoguchi serve` prints once it listens: `note(app, base_url)` returns a line or None."""
    app.extensions["madoguchi.start_notes"].append(note)


__all__ = ["create_app", "get_db", "get_config", "add_service", "background_service", "add_start_note",
           "add_health_check", "add_metrics_hook", "stream_slot", "LANGUAGES", "request"]
