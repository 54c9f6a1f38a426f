"""The background services (forwarding, progress, figures) keep working after PostgreSQL drops
their connections (a restart, a failover: here the backends are terminated); on SQLite the same
runs without the drop."""
from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest

from core import progress
from core.application import State, utcnow
from core.store.applications import ApplicationStore
from core.store.db import KeptConnection, dropped, is_postgresql
from counter import figures, forwarding
from tests.fixtures_counter import kiosk_application
from tests.fixtures_forwarding import confirmed_applications, wait_for

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)


def drop_other_connections(db) -> None:
    """What a restart or failover does to every other connection: the server ends them."""
    if is_postgresql(db):
        ended = db.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert ended >= 1


def failures(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("madoguchi")]


def test_a_kept_connection_runs_the_next_job_on_a_new_one_after_a_drop(config, db):
    kept = KeptConnection(config)
    try:
        first = kept.get()
        assert kept.run(lambda d: d.execute("SELECT 1").fetchone()[0]) == 1
        drop_other_connections(db)
        assert kept.run(lambda d: d.execute("SELECT 2").fetchone()[0]) == 2   # not an error: run again
        assert (kept.db is not first) == is_postgresql(db) and not dropped(kept.db)
    finally:
        kept.close()


def test_the_forwarder_delivers_after_its_connections_were_dropped(config, db, caplog):
    stop = threading.Event()
    forwarder = forwarding.Forwarder(config)
    thread = threading.Thread(target=lambda: forwarder.run(stop, poll_seconds=0.05), daemon=True)
    thread.start()
    try:
        first = confirmed_applications(db, 1)[0]
        wait_for(lambda: ApplicationStore(db).get(first.id).state is State.FORWARDED, what="first delivery")
        drop_other_connections(db)
        second = confirmed_applications(db, 1)[0]
        wait_for(lambda: ApplicationStore(db).get(second.id).state is State.FORWARDED, what="delivery after the drop")
    finally:
        stop.set()
        thread.join(10)
        forwarder.close()
    assert failures(caplog) == []


def test_progress_pushes_after_its_connection_was_dropped(config, db, caplog):
    stop = threading.Event()
    thread = threading.Thread(target=progress.run, args=(config, stop), kwargs={"every": 0.05}, daemon=True)
    thread.start()
    try:
        app = kiosk_application(db, state=State.PRINTED)
        wait_for(lambda: progress.queued(db) == 0, what="the first pushes")
        drop_other_connections(db)
        progress.record(db, app.id, "confirmed", utcnow())
        wait_for(lambda: progress.queued(db) == 0, what="a push after the drop")
    finally:
        stop.set()
        thread.join(10)
    steps = [r["step"] for r in db.query("SELECT step FROM progress_steps WHERE application_id = ? ORDER BY seq",
                                         [app.id])]
    assert steps[-1] == "confirmed"
    assert failures(caplog) == []


def test_the_figures_service_keeps_days_after_its_connection_was_dropped(config, db, caplog, monkeypatch):
    monkeypatch.setattr(figures, "KEEP_FIRST_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(figures, "KEEP_EVERY_SECONDS", 0.1)
    stop_service = figures.start_service(SimpleNamespace(config={"MADOGUCHI": config}))
    try:
        kept = lambda: db.execute("SELECT count(*) FROM figure_days").fetchone()[0]  # noqa: E731
        wait_for(lambda: kept() > 0, what="the ended days kept")
        drop_other_connections(db)
        db.execute("DELETE FROM figure_days")
        wait_for(lambda: kept() > 0, what="the ended days kept again after the drop")
    finally:
        stop_service()
    assert failures(caplog) == []
