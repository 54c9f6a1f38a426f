"""`madoguchi serve --surface counter` on each storage engine: a clerk signs in, sees the queue
and an application, confirms it, and a supervisor sees the figures, over HTTP."""
from __future__ import annotations

import csv as csv_module
import io
import json
import re

import pytest
import requests

from core.application import State
from core.clock import in_japan
from core.store.applications import ApplicationStore
from tests.fixtures_counter import CHECKED_ID, PASSWORD, kiosk_application
from tests.helpers import LiveServer, write_config

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)


def _csrf(page: requests.Response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _signed_in(server: LiveServer, username: str) -> requests.Session:
    session = requests.Session()
    form = session.get(server.url + "/counter/sign-in", timeout=10)
    r = session.post(server.url + "/counter/sign-in", timeout=10, allow_redirects=False,
                     data={"csrf_token": _csrf(form), "username": username, "password": PASSWORD})
    assert r.status_code == 302, r.text
    return session


def test_the_counter_serves_its_queue_confirm_and_figures(tmp_path, overrides, db, clerks, engine):
    app = kiosk_application(db)
    # No forwarder in the server: the confirmed application stays confirmed until this test looks
    # (with one, it was sometimes forwarded already).
    config_file = write_config(tmp_path / "counter.toml", overrides(backend={"forward_in_server": False}))
    server = LiveServer(config_file, "counter")
    try:
        health = requests.get(server.url + "/healthz", timeout=10).json()
        assert health["checks"]["database"]["ok"]
        clerk = _signed_in(server, "sato")
        queue = clerk.get(server.url + "/counter/?lang=en", timeout=10)
        assert queue.status_code == 200 and f"/counter/applications/{app.id}" in queue.text
        assert "12" in queue.text   # its reception number
        detail = clerk.get(server.url + f"/counter/applications/{app.id}?lang=en", timeout=10)
        assert detail.status_code == 200 and "山田" in detail.text
        r = clerk.post(server.url + f"/counter/applications/{app.id}/confirm", timeout=10, allow_redirects=False,
                       data={"csrf_token": _csrf(detail), "version": app.version, **CHECKED_ID})
        assert r.status_code == 302, r.text
        assert ApplicationStore(db).get(app.id).state is State.CONFIRMED
        outbox = next(db["outbox"].rows)
        assert json.loads(outbox["record"])["confirmed_by"] == "clerk:sato"
        confirmed = clerk.get(server.url + "/counter/?lang=en&state=confirmed", timeout=10)
        assert confirmed.status_code == 200 and f"/counter/applications/{app.id}" in confirmed.text

        supervisor = _signed_in(server, "suzuki")
        day = in_japan(app.created_at).date().isoformat()
        page = supervisor.get(server.url + f"/counter/figures?lang=en&from={day}&to={day}", timeout=10)
        assert page.status_code == 200, page.text
        csv = supervisor.get(server.url + f"/counter/figures.csv?from={day}&to={day}&table=days", timeout=10)
        assert csv.status_code == 200
        days = list(csv_module.reader(io.StringIO(csv.text.lstrip("\ufeff"))))
        assert days[1][0] == day and (days[1][2], days[1][4]) == ("1", "1")   # applications, confirmed
        assert "Traceback" not in server.output()
    finally:
        server.stop()
