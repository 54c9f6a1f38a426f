"""呼出: a clerk calls the next reception number to a window; the waiting area's display (no
sign-in: numbers and windows only) shows it and asks for new calls. Calls are per office, as
reception numbers are: two offices on one database may both call A-001 the same day."""
from __future__ import annotations

import re

import pytest

from core import calling
from core.clock import today_in_japan
from core.store.db import write
from kiosk import reception
from tests.fixtures_counter import CERTIFICATE, kiosk_application, post, sign_in

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)
WINDOW = "honcho/1階 3番窓口"           # the main office's window (sites/demo/offices.toml)
SOUTH_WINDOW = "minami/1階 1番窓口"     # the south branch's


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
    r = post(clerk, "/counter/call", {"window": WINDOW})
    assert r.status_code == 302
    r = post(clerk, "/counter/call", {"window": WINDOW})        # the next: not the same again
    calls = calling.calls_of(db, today_in_japan())
    assert [c["reception_number"] for c in reversed(calls)] == numbers
    assert post(clerk, "/counter/call", {"window": "no such window"}).status_code == 302
    assert post(clerk, "/counter/call", {"window": "1階 3番窓口"}).status_code == 302     # a label alone: no office
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
    assert public.post("/counter/call", data={"window": WINDOW}).status_code in (302, 400, 401, 403)
    assert len(calling.calls_of(db, today_in_japan())) == 2


def test_nobody_waiting_is_said_so(app, db, clerks):
    clerk = sign_in(app.test_client())
    r = post(clerk, "/counter/call?lang=en", {"window": WINDOW})
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


def test_two_offices_both_call_a_001_and_each_display_shows_its_own(app, db, clerks):
    """Reception numbers count per office: the main office's kiosk and the south branch's both
    give A-001 today. A clerk at a window of the main office calls the main office's A-001; the
    branch's display does not show it, and the branch's A-001 is still waiting there."""
    numbers = {office: reception.next_number(db, "A", office=office) for office in ("honcho", "minami")}
    assert numbers == {"honcho": "A-001", "minami": "A-001"}
    for office in ("honcho", "minami"):
        kiosk_application(db, CERTIFICATE, reception="A-001", office=office)
    clerk = sign_in(app.test_client())
    page = clerk.get("/counter/?lang=en").get_data(as_text=True)
    assert f'value="{WINDOW}"' in page and f'value="{SOUTH_WINDOW}"' in page
    assert "1階 1番窓口（架空市役所 南支所 市民窓口係）" in page      # two offices: each window says whose it is
    assert post(clerk, "/counter/call", {"window": WINDOW}).status_code == 302
    public = app.test_client()
    main = public.get("/counter/display/calls?office=honcho").get_json()
    assert [(c["number"], c["window"]) for c in main] == [("A-001", "1階 3番窓口")]
    assert public.get("/counter/display/calls?office=minami").get_json() == []
    assert public.get("/counter/display/calls").get_json() == main      # this server's office: the main one
    south_page = public.get("/counter/display?office=minami").get_data(as_text=True)
    assert "data-number>A-001<" not in south_page and "お呼びするまで" in south_page
    assert 'data-calls-url="/counter/display/calls?office=minami"' in south_page
    assert "data-number>A-001<" in public.get("/counter/display?office=honcho").get_data(as_text=True)
    # Nobody else waits at the main office; the branch's A-001 does, at the branch.
    post(clerk, "/counter/call?lang=en", {"window": WINDOW})
    assert "Nobody is waiting" in clerk.get("/counter/?lang=en").get_data(as_text=True)
    assert post(clerk, "/counter/call", {"window": SOUTH_WINDOW}).status_code == 302
    south = public.get("/counter/display/calls?office=minami").get_json()
    assert [(c["number"], c["window"]) for c in south] == [("A-001", "1階 1番窓口")]
    assert [c["reception_number"] for c in calling.calls_of(db, today_in_japan(), "honcho")] == ["A-001"]
    assert set(calling.called_numbers(db, today_in_japan())) == {("honcho", "A-001"), ("minami", "A-001")}
    # The link to the display is the clerk's window's office's.
    assert "/counter/display?office=minami" in clerk.get("/counter/").get_data(as_text=True)


@pytest.mark.parametrize("office", ["nowhere", "", "minami%00", "x" * 500])
def test_a_display_of_an_office_the_site_does_not_have_is_not_found(app, db, office):
    client = app.test_client()
    assert client.get(f"/counter/display?office={office}").status_code == 404
    assert client.get(f"/counter/display/calls?office={office}&after=0").status_code == 404


def test_calls_made_before_calls_had_offices_are_the_main_offices(db):
    """The migration: a call of before (no office column) becomes the main office's."""
    with write(db):
        db.execute("DROP INDEX idx_calls_day_office_id")
        db.execute("ALTER TABLE calls DROP COLUMN office")
        db.execute("DELETE FROM _sqlite_migrations WHERE migration_set = 'core.calling'"
                   " AND name = 'm002_calls_per_office'")
        db.execute('INSERT INTO calls (day, reception_number, "window", called_at, called_by)'
                   " VALUES (?, 'A-007', '1階 3番窓口', '2026-04-01T00:30:00+00:00', 'clerk:sato')",
                   [today_in_japan().isoformat()])
    with write(db):
        calling.migrations.apply(db)
    assert [c["office"] for c in calling.calls_of(db, today_in_japan(), "honcho")] == ["honcho"]
    assert calling.calls_of(db, today_in_japan(), "minami") == []
