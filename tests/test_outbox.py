import json
import threading
from datetime import timedelta

import pytest

from core import outbox
from core.application import Application, Source, utcnow
from core.errors import TransitionError
from core.outbox import confirm
from core.store.applications import ApplicationStore
from core.store.db import open_from_config, write
from tests.fixtures_forwarding import confirmed_applications

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)


def test_confirm_writes_state_and_outbox_record_together(db):
    store = ApplicationStore(db)
    app = Application.create(["juminhyo"], {"name": "山田"}, Source.CARD, actor="k", channel="kiosk")
    app.transition("submitted", actor="k")
    app.transition("printed", actor="k")
    store.save(app)
    record = confirm(db, app, actor="clerk:sato")
    assert store.get(app.id).state == "confirmed"
    rows = list(db["outbox"].rows)
    assert len(rows) == 1 and rows[0]["state"] == "pending"
    assert json.loads(rows[0]["record"]) == record and record["schema"] == "madoguchi.record/3"


def test_confirming_a_draft_is_refused_and_leaves_no_record(db):
    app = Application.create(["juminhyo"], {"name": "山田"}, Source.CARD, actor="k", channel="kiosk")
    ApplicationStore(db).save(app)
    with pytest.raises(TransitionError) as e:
        confirm(db, app, actor="clerk")
    assert e.value.code == "not_printed"
    assert db["outbox"].count == 0


def claim(db, owner):
    now = utcnow()
    return outbox.claim_next(db, owner, now=now, until=now + timedelta(minutes=5), due_by=now)


def test_two_claimers_never_get_the_same_row(db, config):
    """Each claimer on its own connection, taking rows until none is left: every row is leased
    once, to one of them."""
    confirmed_applications(db, 24)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[str] = []

    def worker(owner):
        try:
            own = open_from_config(config)
            while (row := claim(own, owner)) is not None:
                claimed[owner].append(row["id"])
            own.conn.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(owner,)) for owner in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = claimed["a"] + claimed["b"]
    assert sorted(ids) == [r["id"] for r in db.query("SELECT id FROM outbox ORDER BY id")]
    owners = {r["id"]: r["lease_owner"] for r in db.query("SELECT id, lease_owner FROM outbox")}
    assert all(owners[i] == owner for owner, rows in claimed.items() for i in rows)


def test_the_queue_counts_what_is_due_and_a_delivered_row_leaves_it(db):
    confirmed_applications(db, 3)
    now = utcnow()
    assert outbox.due_count(db, now, at_most=10) == 3 and outbox.due_count(db, now, at_most=2) == 2
    row = claim(db, "a")
    assert outbox.mark_delivered(db, row["id"], now) and not outbox.mark_delivered(db, row["id"], now)
    assert outbox.counts_by_state(db) == {"pending": 2, "delivered": 1}
    assert outbox.due_count(db, now, at_most=10) == 2


def test_a_row_being_claimed_is_skipped_not_waited_for(db, config, engine):
    """PostgreSQL: while one claimer's transaction holds the first row (FOR UPDATE SKIP LOCKED),
    another claims the next one at once."""
    if engine != "postgresql":
        pytest.skip("SQLite's claimers take turns on its one write lock")
    confirmed_applications(db, 2)
    other = open_from_config(config)
    with write(db):
        first = claim(db, "a")
        second = claim(other, "b")      # would wait for lock_timeout and fail without SKIP LOCKED
        assert claim(other, "c") is None
    assert (first["id"], second["id"]) == tuple(r["id"] for r in db.query("SELECT id FROM outbox ORDER BY id"))
    other.conn.close()
