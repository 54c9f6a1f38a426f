"""The kiosk's call-staff button: on every screen, one call a kiosk at a time, shown on the
counter's queue as it happens (this office's database, or the office server's for a kiosk PC),
answered by a clerk; no visitor's data in the call."""
from __future__ import annotations

import re

from core import help_calls
from tests.fixtures_counter import sign_in


def test_every_kiosk_screen_has_the_button_and_a_call_reaches_the_queue(kiosk_app, clerks):
    from tests.kiosk_helpers import Kiosk
    app = kiosk_app(with_counter=True)
    kiosk = Kiosk(app)
    kiosk.start("en")
    assert "data-call-staff" in kiosk.text and "Call staff" in kiosk.text
    kiosk.read_card()
    kiosk.get("/kiosk/purpose")
    assert "data-call-staff" in kiosk.text
    r = kiosk.post("/kiosk/help", {"next": "/kiosk/purpose"})
    assert r.status_code == 302 and r.location == "/kiosk/purpose"
    kiosk.get("/kiosk/purpose")
    assert "Staff are coming" in kiosk.text and "data-help-called" in kiosk.text
    kiosk.post("/kiosk/help", {"next": "/kiosk/purpose"})          # touched again: still one call
    with app.app_context():
        from web import get_db
        calls = help_calls.open_calls(get_db())
    assert [(c["kiosk_id"], c["screen"]) for c in calls] == [(app.config["MADOGUCHI"].kiosk.kiosk_id, "purpose")]
    assert "山田" not in str(calls)                                   # the visitor's name is not in it
    clerk = sign_in(app.test_client())
    queue = clerk.get("/counter/?lang=en").get_data(as_text=True)
    assert "kiosk-1 needs help" in queue or f"{calls[0]['kiosk_id']} needs help" in queue
    box = clerk.get("/counter/help-calls?lang=en").get_data(as_text=True)
    assert 'id="help-calls"' in box and "needs help" in box
    token = re.search(r'name="csrf_token" value="([^"]+)"', box).group(1)
    r = clerk.post(f"/counter/help-calls/{calls[0]['id']}", data={"csrf_token": token})
    assert r.status_code == 302
    assert "needs help" not in clerk.get("/counter/help-calls?lang=en").get_data(as_text=True)
    assert clerk.post(f"/counter/help-calls/{calls[0]['id']}", data={"csrf_token": token}).status_code == 302
    assert clerk.post("/counter/help-calls/99999999999999999999", data={"csrf_token": token}).status_code == 404
    # a new visitor at that kiosk starts without the notice
    kiosk.get("/kiosk/?lang=en")
    assert "Staff are coming" not in kiosk.text


def test_a_browser_that_is_not_the_kiosk_cannot_call_and_a_clerk_must_sign_in(kiosk_app):
    from tests.kiosk_helpers import Kiosk
    app = kiosk_app(with_counter=True)
    stranger = Kiosk(app, paired=False)
    stranger.get("/kiosk/")                                          # "this is not a kiosk": no token
    assert stranger.post("/kiosk/help", {"next": "/kiosk/"}).status_code in (400, 403)
    with app.app_context():
        from web import get_db
        assert help_calls.open_calls(get_db()) == []
    assert app.test_client().get("/counter/help-calls").status_code in (302, 401, 403)


def test_the_office_server_takes_a_kiosk_pcs_call_with_its_token(app, db):
    """A kiosk PC (its own server, next to its devices) tells the office server's API."""
    from tests.test_kiosk_office import bearer
    client = app.test_client()
    assert client.post("/kiosk/api/v1/help", json={"screen": "card_pin"}).status_code == 401
    r = client.post("/kiosk/api/v1/help", json={"screen": "card_pin<script>"}, headers=bearer(app, "kiosk-7", "K"))
    assert r.status_code == 201 and r.get_json()["kiosk_id"] == "kiosk-7"
    assert client.post("/kiosk/api/v1/help", data=b"{", content_type="application/json",
                       headers=bearer(app, "kiosk-7", "K")).status_code == 400
    assert [(c["kiosk_id"], c["screen"]) for c in help_calls.open_calls(db)] == [("kiosk-7", "card_pinscript")]


def test_a_kiosk_pc_whose_office_is_down_tells_the_visitor_to_ask_at_the_counter(kiosk_app, monkeypatch):
    from kiosk.office import OfficeClient, OfficeUnavailable
    from tests.kiosk_helpers import Kiosk
    app = kiosk_app()
    hub = app.extensions["kiosk.hub"]

    class Down(OfficeClient):
        def __init__(self):
            pass

        def call_help(self, screen):
            raise OfficeUnavailable("the office server could not be reached")
    monkeypatch.setattr(hub, "office", Down())
    kiosk = Kiosk(app)
    kiosk.start("en")
    kiosk.post("/kiosk/help", {"next": "/kiosk/"})
    kiosk.get("/kiosk/?lang=en")
    assert "Staff could not be called" not in kiosk.text      # a new visit on the start page
    kiosk.read_card()
    kiosk.post("/kiosk/help", {"next": "/kiosk/purpose"})
    kiosk.get("/kiosk/purpose")
    assert "Staff could not be called from this screen" in kiosk.text
