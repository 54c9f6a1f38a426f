"""URL map of the prereg surface: the resident's wizard, its confirmation, and the APIs."""
from __future__ import annotations

import logging
import threading

from flask import Blueprint, Flask

from web.errors import redacted_traceback

bp = Blueprint("prereg", __name__, template_folder="templates", static_folder="static")
# The status page's short URL at the server's root (core.progress.STATUS_PATH): the QR's URL stays small.
short = Blueprint("prereg_short", __name__)
log = logging.getLogger("madoguchi.prereg")


def init_app(app: Flask) -> None:
    """Called by the app factory: the purge timer runs while `madoguchi serve` serves."""
    from web import add_service
    app.register_blueprint(short)
    add_service(app, start_purge_timer)


def start_purge_timer(app: Flask):
    """Purge expired pre-registrations, stale drafts and old progress every [retention].purge_interval_minutes."""
    from prereg.cli import purge_all
    from web import background_service

    config = app.config["MADOGUCHI"]
    interval = max(60.0, config.retention.purge_interval_minutes * 60.0)

    def run(stop: threading.Event):
        while True:
            try:
                sealed_n, drafts_n, progress_n = purge_all(config)
                if sealed_n or drafts_n or progress_n:
                    log.info("purged %d expired pre-registrations, %d stale drafts and %d progress steps",
                             sealed_n, drafts_n, progress_n)
            except Exception as e:  # keep serving; try again next time
                log.error("purge failed: %s", redacted_traceback(e))
            if stop.wait(interval):
                return

    return background_service("prereg-purge", run)


from prereg import api, views  # noqa: E402,F401  (routes register on bp)

bp.register_blueprint(api.api, url_prefix="/api/v1")
