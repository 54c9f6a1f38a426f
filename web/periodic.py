"""Background services that run a job on a timer (prereg's purge, the office's retention purge)."""
from __future__ import annotations

import threading

from flask import Flask

from web import background_service, errors


def periodic_service(name: str, interval_seconds, job, log):
    """A service for `add_service` that runs `job(config)` at once and then every
    `interval_seconds(config)` seconds in a thread of its own; a line `job` returns is logged at
    info, a failure (where, never its message: it may hold personal data) at error, and tried
    again next time. `start(app)` returns the stop callable."""
    def start(app: Flask):
        config = app.config["MADOGUCHI"]
        interval = interval_seconds(config)

        def run(stop: threading.Event):
            while True:
                try:
                    line = job(config)
                    if line:
                        log.info("%s", line)
                except Exception as e:  # keep serving; try again next time
                    log.error("%s failed: %s", name, errors.redacted_traceback(e))
                if stop.wait(interval):
                    return
        return background_service(name, run)
    return start
