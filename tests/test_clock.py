"""Japan's time on every screen and form, whatever zone the server's clock is set to."""
from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from core import clock


@pytest.fixture
def server_in(monkeypatch):
    """Set the server's own zone (TZ) for the test, as a cloud host or container would."""
    def set_zone(name: str):
        monkeypatch.setenv("TZ", name)
        time.tzset()
    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_japan_time_does_not_follow_the_server_zone(server_in, zone):
    server_in(zone)
    utc = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)      # 2026-04-01 00:30 in Japan
    assert clock.in_japan(utc).strftime("%Y-%m-%d %H:%M") == "2026-04-01 00:30"
    assert clock.in_japan(utc.replace(tzinfo=None)).hour == 0          # stored naive = UTC
    assert abs(clock.now_in_japan() - datetime.now(UTC)) < timedelta(seconds=5)
    assert clock.today_in_japan() == datetime.now(timezone(timedelta(hours=9))).date()


def test_the_counter_shows_japan_time_on_a_utc_server(server_in, clerk_client, db):
    from core.store.applications import ApplicationStore
    from tests.fixtures_counter import kiosk_application
    server_in("UTC")
    application = kiosk_application(db)
    # made at 23:50 UTC two days ago: 08:50 the next morning in Japan
    made = (datetime.now(UTC) - timedelta(days=2)).replace(hour=23, minute=50, second=0, microsecond=0)
    db.execute("UPDATE application_events SET at = ? WHERE application_id = ?", [made.isoformat(), application.id])
    db.execute("UPDATE applications SET created_at = ? WHERE id = ?", [made.isoformat(), application.id])
    page = clerk_client.get(f"/counter/applications/{application.id}?lang=en").get_data(as_text=True)
    japan_day = (made + timedelta(hours=9)).date()
    assert f"{japan_day.isoformat()} 08:50" in page
    assert "23:50" not in page
    assert ApplicationStore(db).get(application.id).created_at == made


def test_reception_numbers_count_in_japan_days(server_in, db, monkeypatch):
    from kiosk import reception
    server_in("America/Los_Angeles")       # still the day before there for 17 hours of Japan's day
    japan_today = clock.today_in_japan()
    first = reception.next_number(db, "Q")
    assert first == "Q-001" and reception.issued_today(db, "Q", japan_today) == 1
    assert reception.issued_today(db, "Q", japan_today - timedelta(days=1)) == 0
    assert isinstance(japan_today, date)
