"""`madoguchi serve`: the app plus its background services, on waitress."""
from __future__ import annotations

import gc
import logging
import signal
import threading

from core.config import Config
from core.store.tenancy import refuse_config_seeing_every_town
from web import create_app
from web.monitoring import configure_logging

log = logging.getLogger("madoguchi.serve")


def port_for(config: Config, surface: str) -> int:
    s = config.server
    return {"all": s.port, "prereg": s.prereg_port, "kiosk": s.kiosk_port, "counter": s.counter_port}[surface]


def serve(config: Config, surface: str | None = None, port: int | None = None, host: str | None = None) -> None:
    from waitress import create_server

    configure_logging(config.monitoring.log_format)
    surface = surface or config.server.surfaces
    app = create_app(config, surface)
    # After create_app registered the surfaces' tables: a town's role finds any migration the
    # owner has not run yet now, at start, not on a first request.
    refuse_config_seeing_every_town(config)
    host = host or config.server.host
    port = port or port_for(config, surface)
    stoppers = [start(app) for start in app.extensions["madoguchi.services"]]
    # What start-up loaded (catalogue, fonts, templates) lives as long as the process: keep it
    # out of every full garbage collection, which would otherwise pause requests.
    gc.collect()
    gc.freeze()
    # Pages get [server].threads of their own; event streams and long polls run on the
    # stream_threads beyond those (web.StreamSlots), so they can never take all of them.
    server = create_server(app, host=host, port=port, threads=config.server.threads + config.server.stream_threads,
                           channel_timeout=300, ident="madoguchi")
    log.info("serving %s on http://%s:%s/", ", ".join(app.extensions["madoguchi.surfaces"]), host, port)
    print(f"madoguchi: serving {surface} on http://{host}:{port}/", flush=True)
    for note in app.extensions["madoguchi.start_notes"]:
        line = note(app, f"http://{host}:{port}")
        if line:
            print(f"madoguchi: {line}", flush=True)

    stopped = threading.Event()

    def stop_services():
        if stopped.is_set():
            return
        stopped.set()
        for stop in stoppers:
            try:
                if stop:
                    stop()
            except Exception:  # a failing service must not keep the others running
                log.exception("stopping a service failed")

    def shutdown(*_):
        # Services stop first, so long-lived responses (the kiosk's event streams) end and
        # free waitress's workers at once. Then out of waitress's loop, raised in the main
        # thread: closing the server from another thread left the loop running while a
        # client connection was still in its map, so `serve` sometimes ignored SIGTERM.
        stop_services()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass
    finally:
        stop_services()
