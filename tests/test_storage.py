import multiprocessing
import threading

import pytest

from core.application import Application, Source
from core.store.applications import ApplicationStore, ConcurrentUpdate
from core.store.db import applied_migrations, open_from_config, write

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)


def new_app(i=0):
    return Application.create(["juminhyo"], {"name": f"テスト{i}"}, Source.TYPED, actor="test", channel="kiosk")


def test_database_is_wal_and_migrations_are_recorded(db, engine):
    if engine == "sqlite":
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = {r["migration_set"] for r in db["_sqlite_migrations"].rows}
    assert "core.store.applications" in applied
    assert applied_migrations(db)[:2] == ["core.store.applications:m001_applications",
                                          "core.store.applications:m002_purged_at"]


def test_an_id_stored_already_is_refused_and_the_transaction_goes_on(db):
    from core.store.applications import AlreadyStored

    store = ApplicationStore(db)
    first = store.save(new_app())
    twin = new_app(1)
    twin.id = first.id
    other = new_app(2)
    with write(db):
        with pytest.raises(AlreadyStored):
            store.save(twin)
        store.save(other)     # PostgreSQL's transaction is still usable after the refusal
    assert store.get(first.id).data["name"] == "テスト0" and store.get(other.id).data["name"] == "テスト2"


def test_save_and_load_with_events(db):
    store = ApplicationStore(db)
    app = new_app()
    app.transition("submitted", actor="test")
    store.save(app)
    loaded = store.get(app.id)
    assert loaded.data == app.data and loaded.state == "submitted" and loaded.sources == {"name": "typed"}
    assert [e.kind for e in store.events(app.id)] == ["created", "state"]
    loaded.set_field("name", "テスト修正", Source.CLERK, actor="clerk", reason="誤字")
    store.save(loaded)
    ev = store.events(app.id)[-1]
    assert (ev.field, ev.old, ev.new, ev.reason) == ("name", "テスト0", "テスト修正", "誤字")


def test_a_stale_copy_cannot_overwrite_a_newer_one(db):
    store = ApplicationStore(db)
    app = store.save(new_app())
    a, b = store.get(app.id), store.get(app.id)
    a.set_field("name", "A", Source.TYPED, actor="a")
    store.save(a)
    b.set_field("name", "B", Source.TYPED, actor="b")
    with pytest.raises(ConcurrentUpdate):
        store.save(b)
    assert store.get(app.id).data["name"] == "A"


def test_failed_transaction_leaves_nothing(db):
    store = ApplicationStore(db)
    app = new_app()
    with pytest.raises(RuntimeError):
        with write(db):
            store.save(app)
            raise RuntimeError("crash after save")
    assert store.find(app.id) is None
    assert list(db.query("SELECT * FROM application_events WHERE application_id = ?", [app.id])) == []


def _writer(config, n, errors):
    try:
        db = open_from_config(config)
        store = ApplicationStore(db)
        for i in range(n):
            store.save(new_app(i))
        db.conn.close()
    except Exception as e:  # pragma: no cover - reported below
        errors.append(repr(e))


def _process_writer(config, n):
    errors = []
    _writer(config, n, errors)
    if errors:
        raise SystemExit(errors[0])


def test_concurrent_writers_lose_nothing(config, db):
    errors: list[str] = []
    threads = [threading.Thread(target=_writer, args=(config, 40, errors)) for _ in range(4)]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(config, 40)) for _ in range(3)]
    for t in threads + procs:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join()
    assert errors == []
    assert all(p.exitcode == 0 for p in procs)
    assert db["applications"].count == 7 * 40
    assert db["application_events"].count == 7 * 40


def test_core_migrates_its_own_tables_and_each_surface_adds_its_own(tmp_path):
    """core names no surface: a surface's tables appear once the surface is imported, also on a
    file this process migrated before."""
    import subprocess
    import sys

    code = f"""
import sys
from core.store.db import open_database
def tables():
    db = open_database({str(tmp_path / "m.db")!r})
    names = set(db.table_names())
    db.conn.close()
    return names
before = tables()
assert "applications" in before and "outbox" in before and "exchange_log" in before, before
assert not before & {{"prereg_drafts", "reception_counters", "kiosk_uploads"}}, before
assert not {{"kiosk", "counter", "prereg", "web", "flask"}} & set(sys.modules), "core imported a surface"
import kiosk, prereg
after = tables()
assert {{"prereg_drafts", "reception_counters", "kiosk_uploads", "kiosk_pairing_codes"}} <= after, after
"""
    subprocess.run([sys.executable, "-c", code], check=True)
