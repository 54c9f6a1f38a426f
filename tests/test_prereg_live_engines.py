"""`madoguchi serve --surface prereg` on each storage engine: a resident submits through the API, and
the office (`serve --surface counter` on the same database) opens the pre-registration from its QR
code's text; the application and the exchange log's `prereg_fetch` are in the database."""
from __future__ import annotations

import pytest
import requests

from core import exchange_log as xlog
from core.application import State
from core.store.applications import ApplicationStore
from tests.helpers import LiveServer
from tests.test_counter_live_engines import _csrf, _signed_in
from tests.test_prereg_api import FORM

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)


def test_a_pre_registration_submitted_to_prereg_is_opened_by_the_office(config, config_file, db, clerks, engine):
    prereg = LiveServer(config_file, "prereg")
    office = LiveServer(config_file, "counter")
    try:
        r = requests.post(prereg.url + "/prereg/api/v1/applications", json=FORM, timeout=10)
        assert r.status_code == 201, r.text
        submitted = r.json()
        clerk = _signed_in(office, "sato")
        queue = clerk.get(office.url + "/counter/?lang=en", timeout=10)
        opened = clerk.post(office.url + "/counter/open", timeout=10, allow_redirects=False,
                            data={"csrf_token": _csrf(queue), "code": submitted["token"]})
        assert opened.status_code == 302, opened.text
        assert opened.headers["Location"].endswith(f"/counter/applications/{submitted['id']}")
        detail = clerk.get(office.url + f"/counter/applications/{submitted['id']}?lang=en", timeout=10)
        assert detail.status_code == 200 and "試験子" in detail.text
        again = clerk.post(office.url + "/counter/open", timeout=10, allow_redirects=False,
                           data={"csrf_token": _csrf(queue), "code": submitted["token"]})
        assert again.headers["Location"] == opened.headers["Location"]     # the same application, once
        assert "Traceback" not in prereg.output() + office.output()
    finally:
        prereg.stop()
        office.stop()
    [app] = ApplicationStore(db).list()
    assert app.id == submitted["id"] and app.channel == "counter" and app.state is State.SUBMITTED
    assert app.data["name"] == FORM["name"] and app.data["juminhyo_copies"] == 2
    assert [e["purpose"] for e in xlog.entries(db)] == ["prereg_fetch", "clerk_view"]   # fetched once, then seen
    assert xlog.verify(db).ok
