"""進捗 across two real servers: the office (`serve --surface counter`, its own database) pushes
each state change to the prereg server over HTTP, and the resident's status page follows; a
prereg server that is down loses nothing (stopped, then started again on the same address)."""
from __future__ import annotations

import re
import time

import requests

from core import progress
from core.application import Application, Source, State
from core.config import load_config
from core.keys import office_api_key
from core.services.prereg import open_preregistration
from core.store.applications import ApplicationStore
from core.store.db import open_database
from tests import helpers
from tests.conftest import test_overrides as overrides_in
from tests.helpers import LiveServer, write_config
from tests.test_prereg_api import FORM


def marks(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-step="(\w+)" data-mark="(\w+)"', html))


def wait_for(check, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_the_office_pushes_over_http_and_a_down_prereg_server_loses_nothing(live_server, config_file, tmp_path,
                                                                            monkeypatch):
    prereg = live_server("prereg")
    token = requests.post(prereg.url + "/prereg/api/v1/applications", json=FORM, timeout=10).json()["token"]
    status_url = prereg.url + "/prereg/s/" + token + "?lang=en"
    assert "has not received it yet" in requests.get(status_url, timeout=10).text

    office_dir = tmp_path / "office"
    office_dir.mkdir()
    overrides = overrides_in(office_dir)
    prereg_config = load_config(config_file, base_dir=tmp_path)
    overrides["keys"]["office_api_key"] = office_api_key(prereg_config)
    overrides["prereg"] = {"server_url": prereg.url}
    overrides["backend"].update({"backoff_initial_seconds": 0.2, "backoff_max_seconds": 1.0})
    office_file = write_config(office_dir / "config.toml", overrides)
    office = load_config(office_file, base_dir=office_dir)
    office_server = LiveServer(office_file, "counter")
    try:
        db = open_database(office.storage.path)
        opened = open_preregistration(db, office, token, actor="kiosk:kiosk-1")
        app = Application.create(["juminhyo"], {k: v for k, v in opened.form.items() if k != "procedures"},
                                 Source.QR, actor="kiosk:kiosk-1", channel="kiosk", application_id=opened.app_id)
        app.transition(State.SUBMITTED, "kiosk:kiosk-1")
        app.transition(State.PRINTED, "kiosk:kiosk-1")
        ApplicationStore(db).save(app)
        # the office's worker delivers both; nothing stays queued
        assert wait_for(lambda: marks(requests.get(status_url, timeout=10).text).get("printed") == "current")
        assert wait_for(lambda: progress.queued(db) == 0)
        page = requests.get(status_url, timeout=10)
        assert page.headers["Cache-Control"] == "no-store" and FORM["name"] not in page.text

        port = prereg.port
        prereg.stop()
        app = ApplicationStore(db).get(app.id)
        app.transition(State.REJECTED, "clerk:sato", reason="書類不足")
        app.note("clerk:sato", progress.RESIDENT_NOTE, new={"bring": ["seal"], "note": None})
        ApplicationStore(db).save(app)
        assert wait_for(lambda: db.execute("SELECT attempts FROM progress_queue").fetchone()[0] >= 2)
        monkeypatch.setattr(helpers, "free_port", lambda: port)
        live_server("prereg")   # the same database, on the same address again
        html = wait_for(lambda: (lambda t: t if marks(t).get("rejected") == "current" else None)(
            requests.get(status_url, timeout=10).text))
        assert html and marks(html) == {"received": "done", "printed": "done", "rejected": "current"}
        assert "Personal seal (inkan)" in html and progress.queued(db) == 0
    finally:
        office_server.stop()
