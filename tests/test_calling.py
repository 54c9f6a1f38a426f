"""呼出: a clerk calls the next reception number to a window; the waiting area's display (no
sign-in: numbers and windows only) shows it and asks for new calls."""
from __future__ import annotations

import re

import pytest

from core import calling
from core.clock import today_in_japan
from tests.fixtures_counter import CERTIFICATE, kiosk_application, post, sign_in


def test_a_call_keeps_the_number_the_window_and_the_time(db):
    call = calling.call(db, "a-001", "1階 3番窓口", "clerk:sato")
    assert (call["reception_number"], call["window"]) == ("A-001", "1階 3番窓口")
    assert call["day"] == today_in_japan().isoformat()
    for bad in ("", "-A", "A-", "山田", "A-001; DROP TABLE calls", "A" * 13):
        with pytest.raises(calling.CallRefused):
            calling.call(db, bad, "1階 3番窓口", "clerk:sato")
    with pytest.raises(calling.CallRefused):
        calling.call(db, "A-002", "", "clerk:sato")
    assert [c["reception_number"] for c in calling.calls_of(db, today_in_japan())] == ["A-001"]


def test_the_clerk_calls_the_next_waiting_number_and_the_display_shows_it(app, db, clerks):
    first = kiosk_application(db, CERTIFICATE, reception="A-001")
    second = kiosk_application(db, CERTIFICATE, reception="A-002")
    numbers = [first.reception_number, second.reception_number]
    assert all(numbers)
    clerk = sign_in(app.test_client())
    queue = clerk.get("/counter/?lang=en").get_data(as_text=True)
    assert "1階 3番窓口" in queue and 'name="window"' in queue
    r = post(clerk, "/counter/call", {"window": "1階 3番窓口"})
    assert r.status_code == 302
    r = post(clerk, "/counter/call", {"window": "1階 3番窓口"})        # the next: not the same again
    calls = calling.calls_of(db, today_in_japan())
    assert [c["reception_number"] for c in reversed(calls)] == numbers
    assert post(clerk, "/counter/call", {"window": "no such window"}).status_code == 302
    assert len(calling.calls_of(db, today_in_japan())) == 2
    # The display: no sign-in, the latest number large, the JSON it polls.
    public = app.test_client()
    page = public.get("/counter/display").get_data(as_text=True)
    assert re.search(rf'data-number>{numbers[1]}<', page) and "1階 3番窓口へお越しください" in page
    assert "山田" not in page and "髙橋" not in page
    assert public.get("/counter/display/calls?after=0").get_json()[0]["number"] == numbers[1]
    last = public.get("/counter/display/calls?after=0").get_json()[0]["id"]
    assert public.get(f"/counter/display/calls?after={last}").get_json() == []
    assert public.get("/counter/display/calls?after=x%00").status_code == 200
    # Calling needs a signed-in clerk.
    assert public.post("/counter/call", data={"window": "1階 3番窓口"}).status_code in (302, 400, 401, 403)
    assert len(calling.calls_of(db, today_in_japan())) == 2


def test_nobody_waiting_is_said_so(app, db, clerks):
    clerk = sign_in(app.test_client())
    r = post(clerk, "/counter/call?lang=en", {"window": "1階 3番窓口"})
    assert r.status_code == 302
    assert "Nobody is waiting" in clerk.get("/counter/?lang=en").get_data(as_text=True)
    assert calling.calls_of(db, today_in_japan()) == []


def test_the_display_says_each_call_and_nothing_else(app, db):
    """The words come from the call itself (the display cannot have any other text said), through
    the office's speech with its cache; an unknown call is 404."""
    call = calling.call(db, "A-007", "2階 8番窓口", "clerk:sato")
    assert calling.announcement("A-007", "2階 8番窓口") == "受付番号、エーの7番の方、2階 8番窓口へお越しください。"
    assert calling.announcement("12", "1階 3番窓口") == "受付番号、12番の方、1階 3番窓口へお越しください。"
    client = app.test_client()
    assert client.get("/counter/display/calls").get_json()[0]["words"].startswith("受付番号、エーの7番")
    r = client.get(f"/counter/display/speech/{call['id']}")
    assert r.status_code in (200, 503)           # 503 only when the machine has no Japanese voice
    if r.status_code == 200:
        assert r.mimetype == "audio/wav" and r.data[:4] == b"RIFF"
    assert client.get("/counter/display/speech/999999").status_code == 404
    assert client.get("/counter/display/speech/x").status_code == 404
    assert client.get("/counter/display/speech/99999999999999999999").status_code == 404   # past SQLite's keys
