"""URL map of the prereg surface: the resident's wizard, its confirmation, and the APIs."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask

from core.retention import purge_interval_seconds
from web.periodic import periodic_service

bp = Blueprint("prereg", __name__, template_folder="templates", static_folder="static")
# The status page's short URL at the server's root (core.progress.STATUS_PATH): the QR's URL stays small.
short = Blueprint("prereg_short", __name__)
log = logging.getLogger("madoguchi.prereg")


def init_app(app: Flask) -> None:
    """Called by the app factory: the purge timer runs while `madoguchi serve` serves."""
    from web import add_service
    app.register_blueprint(short)
    add_service(app, start_purge_timer)


def _purge(config) -> str | None:
    from prereg.cli import purge_all
    sealed_n, drafts_n, progress_n = purge_all(config)
    if sealed_n or drafts_n or progress_n:
        return (f"purged {sealed_n} expired pre-registrations, {drafts_n} stale drafts and {progress_n} "
                "progress steps")
    return None


# Purge expired pre-registrations, stale drafts and old progress every [retention].purge_interval_minutes.
start_purge_timer = periodic_service("prereg-purge", purge_interval_seconds, _purge, log)


from prereg import api, views  # noqa: E402,F401  (routes register on bp)

bp.register_blueprint(api.api, url_prefix="/api/v1")
