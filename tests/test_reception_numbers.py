"""Reception numbers: a count per office, prefix (its kiosks, or one kiosk PC) and day,
never handed out twice, on either storage engine."""
import threading
from datetime import date

import pytest

import kiosk  # noqa: F401  (registers the kiosk's tables)
from core.store.db import open_from_config, write
from kiosk import reception

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)
DAY = date(2026, 4, 1)


def test_each_prefix_and_day_counts_from_one(db):
    assert [reception.next_number(db, "A", DAY) for _ in range(3)] == ["A-001", "A-002", "A-003"]
    assert reception.next_number(db, "B", DAY) == "B-001"
    assert reception.next_number(db, "A", date(2026, 4, 2)) == "A-001"
    assert reception.issued_today(db, "A", DAY) == 3 and reception.issued_today(db, "C", DAY) == 0


def test_a_number_taken_in_a_transaction_that_fails_is_not_used_up(db):
    reception.next_number(db, "A", DAY)
    with pytest.raises(RuntimeError):
        with write(db):
            reception.next_number(db, "A", DAY)
            raise RuntimeError("the print failed")
    assert reception.next_number(db, "A", DAY) == "A-002"


def test_concurrent_kiosks_get_distinct_numbers(db, config):
    numbers: list[str] = []
    errors: list[str] = []
    start = threading.Barrier(4)

    def kiosk_visits():
        try:
            own = open_from_config(config)
            start.wait()
            for _ in range(20):
                numbers.append(reception.next_number(own, "A", DAY))
            own.conn.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=kiosk_visits) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"A-{n:03d}" for n in range(1, 81)]
    assert reception.issued_today(db, "A", DAY) == 80


def test_a_bad_prefix_is_refused(db):
    with pytest.raises(reception.ReceptionError):
        reception.next_number(db, "a1", DAY)


def test_each_office_counts_its_own_numbers_with_the_same_prefix(db):
    assert [reception.next_number(db, "A", DAY, office="honcho") for _ in range(2)] == ["A-001", "A-002"]
    assert [reception.next_number(db, "A", DAY, office="minami") for _ in range(3)] == ["A-001", "A-002", "A-003"]
    assert reception.next_number(db, "A", DAY, office="honcho") == "A-003"
    assert reception.issued_today(db, "A", DAY, office="honcho") == 3
    assert reception.issued_today(db, "A", DAY, office="minami") == 3
    assert reception.issued_today(db, "A", DAY) == 0   # no office: a count of its own


def test_a_day_counted_before_counts_had_offices_goes_on_at_each_office(db):
    # What an upgrade during opening hours leaves: the day's count with no office.
    with write(db):
        db.execute("INSERT INTO reception_counters (day, prefix, last) VALUES (?, 'A', 12)", [DAY.isoformat()])
    assert reception.next_number(db, "A", DAY, office="honcho") == "A-013"
    assert reception.next_number(db, "A", DAY, office="honcho") == "A-014"
    assert reception.next_number(db, "A", date(2026, 4, 2), office="honcho") == "A-001"


def test_concurrent_kiosks_of_two_offices_get_distinct_numbers_in_each(db, config):
    numbers: dict[str, list[str]] = {"honcho": [], "minami": []}
    errors: list[str] = []
    start = threading.Barrier(4)

    def kiosk_visits(office: str):
        try:
            own = open_from_config(config)
            start.wait()
            for _ in range(20):
                numbers[office].append(reception.next_number(own, "A", DAY, office=office))
            own.conn.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=kiosk_visits, args=(office,)) for office in ("honcho", "minami") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for office in ("honcho", "minami"):
        assert sorted(numbers[office]) == [f"A-{n:03d}" for n in range(1, 41)]
        assert reception.issued_today(db, "A", DAY, office=office) == 40
