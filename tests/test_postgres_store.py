"""core.store.postgres: SQLite's placeholders on PostgreSQL, what counts as "cannot be written
now" there, and the password kept out of the URL."""
import psycopg
import pytest

from core.store import postgres
from core.store.db import can_write, is_unwritable, open_postgresql, write


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("UPDATE t SET x = :until WHERE o = :owner", "UPDATE t SET x = %(until)s WHERE o = %(owner)s"),
    ("SELECT CAST(? AS json), x::text FROM t", "SELECT CAST(%s AS json), x::text FROM t"),
    ("SELECT '?', ':not', 'it''s ?', \"a?b\" FROM t WHERE y LIKE ?",
     "SELECT '?', ':not', 'it''s ?', \"a?b\" FROM t WHERE y LIKE %s"),
    ("SELECT '50%' || ?, 10 % 3", "SELECT '50%%' || %s, 10 %% 3"),
])
def test_placeholders_become_psycopgs_and_literals_stay(sql, expected):
    assert postgres.to_pyformat(sql) == expected


def test_a_password_never_shows_in_a_redacted_url():
    assert postgres.redacted("postgresql://m:hunter2@db:5432/x") == "postgresql://m:***@db:5432/x"
    assert postgres.redacted("postgresql:///x?host=/run/pg") == "postgresql:///x?host=/run/pg"


def test_the_password_comes_from_keys_config_or_the_keys_folder(config):
    from core.keys import database_password
    assert database_password(config) is None        # none made: a socket's peer authentication
    folder = config.path(config.keys.dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "database.password").write_text("from-the-file\n")
    assert database_password(config) == "from-the-file"


def test_values_come_back_as_stored(postgres_url):
    """Stored values come back as stored: text, integers, bytes, NULL."""
    db = open_postgresql(postgres_url)
    db["prereg_drafts"].insert({"id": "d1", "sealed": b"\x00\xffsealed", "expires_at": "2026-04-01T00:00:00+00:00"})
    assert list(db.query("SELECT id, sealed, expires_at FROM prereg_drafts")) == [
        {"id": "d1", "sealed": b"\x00\xffsealed", "expires_at": "2026-04-01T00:00:00+00:00"}]
    assert db.table("prereg_drafts").count == 1 and db.table("prereg_drafts").pks == ["id"]
    assert not db.table("no_such_table").exists()
    db.conn.close()


def test_a_writer_held_up_past_the_lock_timeout_is_unwritable_not_a_bug(postgres_url):
    holder = open_postgresql(postgres_url)
    waiter = open_postgresql(postgres_url, lock_timeout_ms=200)
    with write(holder):
        holder.execute("INSERT INTO reception_counters (day, prefix, last) VALUES ('2026-04-01', 'A', 1)")
        with pytest.raises(psycopg.Error) as e:
            with write(waiter):
                waiter.execute("INSERT INTO reception_counters (day, prefix, last) VALUES ('2026-04-01', 'A', 1)")
        assert is_unwritable(e.value)
        assert not waiter.conn.in_transaction
    assert can_write(waiter)
    holder.conn.close()
    waiter.conn.close()


def test_a_read_only_server_cannot_be_written(postgres_url):
    """As a standby, or a primary set read-only, answers: /healthz says the database cannot be written."""
    db = open_postgresql(postgres_url)
    db.execute("SET default_transaction_read_only = on")
    assert not can_write(db)
    with pytest.raises(psycopg.Error) as e:
        with write(db):
            db.execute("INSERT INTO reception_counters (day, prefix, last) VALUES ('2026-04-01', 'A', 1)")
    assert is_unwritable(e.value)
    db.conn.close()


def test_a_server_that_is_not_there_is_unwritable(tmp_path):
    with pytest.raises(psycopg.Error) as e:
        open_postgresql(f"postgresql:///x?host={tmp_path}&port=1")
    assert is_unwritable(e.value)


def test_a_server_thread_reconnects_after_the_server_dropped_its_connection(config, postgres_url):
    """A PostgreSQL restart or failover ends every connection: the next requests get a new one."""
    from web import create_app
    app = create_app(config.replace({"storage": {"engine": "postgresql", "url": postgres_url}}))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    statuses = [client.get("/healthz").status_code for _ in range(2)]
    assert statuses[-1] == 200 and all(s in (200, 503) for s in statuses)
