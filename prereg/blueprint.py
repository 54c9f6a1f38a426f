"""URL map of the prereg surface: the resident's wizard, its confirmation, and the APIs."""
from __future__ import annotations

import logging
import threading
import traceback

from flask import Blueprint, Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

bp = Blueprint("prereg", __name__, template_folder="templates", static_folder="static")
log = logging.getLogger("madoguchi.prereg")


def _redacted_traceback(exc: BaseException) -> str:
    """Where it failed, without the exception's message or local values (they may hold
    personal data: a name that failed to parse, an address in a KeyError)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-8:]))
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {where}"


@bp.errorhandler(Exception)
def on_error(exc):
    if isinstance(exc, HTTPException):
        return on_http_error(exc)
    log.error("unhandled error in %s %s: %s", request.method, request.url_rule, _redacted_traceback(exc))
    if request.path.startswith("/prereg/api/"):
        return jsonify({"error": "internal", "message": "internal error"}), 500
    return render_template("prereg/error.html", status=500), 500


def on_http_error(exc: HTTPException):
    status = exc.code or 500
    if request.path.startswith("/prereg/api/"):
        return jsonify({"error": exc.name.lower().replace(" ", "_"), "message": exc.name}), status
    csrf = status == 400 and exc.description == "csrf"
    return render_template("prereg/error.html", status=status, csrf=csrf), status


def init_app(app: Flask) -> None:
    """Called by the app factory: the purge timer runs while `madoguchi serve` serves."""
    from web import add_service
    add_service(app, start_purge_timer)


def start_purge_timer(app: Flask):
    """Purge expired pre-registrations and stale drafts every [retention].purge_interval_minutes."""
    from prereg.cli import purge_all

    config = app.config["MADOGUCHI"]
    interval = max(60.0, config.retention.purge_interval_minutes * 60.0)
    stop = threading.Event()

    def run():
        while True:
            try:
                sealed_n, drafts_n = purge_all(config)
                if sealed_n or drafts_n:
                    log.info("purged %d expired pre-registrations and %d stale drafts", sealed_n, drafts_n)
            except Exception as e:  # keep serving; try again next time
                log.error("purge failed: %s", _redacted_traceback(e))
            if stop.wait(interval):
                return

    thread = threading.Thread(target=run, name="prereg-purge", daemon=True)
    thread.start()

    def stop_timer():
        stop.set()
        thread.join(5)
    return stop_timer


from prereg import api, views  # noqa: E402,F401  (routes register on bp)

bp.register_blueprint(api.api, url_prefix="/api/v1")
