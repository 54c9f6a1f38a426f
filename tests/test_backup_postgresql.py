"""`madoguchi backup` and `restore` on PostgreSQL ([storage].engine = "postgresql"): pg_dump of one
snapshot in the same encrypted envelope as SQLite's copy, restored with pg_restore into a new,
empty database; the restore drill while the kiosk writes, and failures that leave nothing."""
from __future__ import annotations

import errno
import json
import subprocess
from datetime import datetime

import pytest

from core import backup as bk
from core import exchange_log as xlog
from core.clock import JAPAN
from core.config import load_config
from core.store.applications import ApplicationStore
from core.store.db import applied_migrations, open_from_config, open_postgresql
from tests.conftest import test_overrides as overrides_in
from tests.fixtures_counter import PASSWORD, KioskWriting, sign_in, text_of
from tests.helpers import ROOT, free_port


@pytest.fixture
def engine():
    """Every test here is PostgreSQL's (test_backup.py is SQLite's)."""
    return "postgresql"


@pytest.fixture
def empty_database(postgres_server):
    """A new database with nothing in it, as `createdb` makes one: where a backup is restored."""
    name = postgres_server.new_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def restored_config(tmp_path, url, folder):
    overrides = overrides_in(tmp_path / "restored-site", {"engine": "postgresql", "url": url})
    overrides["keys"] = {"dir": str(folder / bk.KEYS_FOLDER)}
    return load_config(ROOT / "config.toml", overrides=overrides, base_dir=tmp_path)


def table_count(url: str) -> int:
    import psycopg
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]


def test_restore_drill_on_postgresql(config, db, live_office, runner, tmp_path, monkeypatch, empty_database):
    """Back up while the kiosk writes, restore into a new database, run the counter on it: the
    data of the snapshot is there (nothing written after it), and the log verifies against the
    head the manifest read in that snapshot."""
    kiosk = KioskWriting(lambda: open_from_config(config))
    kiosk.pause_at(monkeypatch, bk, "_start_pg_dump")     # the snapshot is taken: pg_dump starts two writes later
    result = kiosk.backup(runner)
    assert result.exit_code == 0, result.output
    [backup_file] = list(config.path(config.backup.folder).glob("*.mdgbak"))
    raw = backup_file.read_bytes()
    assert b"PGDMP" not in raw and "山田".encode() not in raw     # pg_dump's magic and the data: encrypted

    into = tmp_path / "restored"
    result = runner.invoke("restore", str(backup_file), "--into", str(into), "--into-database", empty_database)
    assert result.exit_code == 0, result.output
    assert "exchange log intact" in result.output and '[storage].engine = "postgresql"' in result.output
    manifest = json.loads((into / bk.MANIFEST_NAME).read_text())
    assert manifest["engine"] == "postgresql" and manifest["database"]["server_version"] == 15
    assert sorted(p.name for p in into.iterdir()) == [bk.KEYS_FOLDER, bk.MANIFEST_NAME]   # no dump left in clear
    assert (into / bk.KEYS_FOLDER / "subject.key").exists() and not (into / bk.KEYS_FOLDER / "backup.key").exists()

    restored = open_postgresql(empty_database)
    ids = {app.id for app in ApplicationStore(restored).list()}
    assert {live_office["confirmed"], live_office["rejected"]} <= ids
    kiosk.check_copy(ids)     # those written after the snapshot, before pg_dump ran, are not in it
    assert xlog.head(restored) == manifest["exchange_log_head"]
    assert xlog.verify(restored).ok
    assert manifest["migrations"] == applied_migrations(restored)      # nothing to migrate: same version
    restored.conn.close()

    from web import create_app
    app = create_app(restored_config(tmp_path, empty_database, into))
    app.config["TESTING"] = True
    client = sign_in(app.test_client(), "sato", PASSWORD)
    page = client.get(f"/counter/applications/{live_office['confirmed']}")
    assert page.status_code == 200
    assert "山田" in text_of(page) and "03-9999-0000" in text_of(page)



def test_a_changed_backup_or_another_key_writes_nothing_into_the_database(config, db, live_office, tmp_path,
                                                                          empty_database, runner):
    path = bk.make_backup(config).path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.mdgbak"
    tampered.write_bytes(bytes(data))
    result = runner.invoke("restore", str(tampered), "--into", str(tmp_path / "t"), "--into-database", empty_database)
    assert result.exit_code == 1 and "damaged or was changed" in result.output and "Traceback" not in result.output
    with pytest.raises(bk.RestoreError) as e:
        bk.restore_backup(path, tmp_path / "k", b"\x01" * 32, into_database=empty_database)
    assert e.value.code == "wrong_key"
    assert table_count(empty_database) == 0
    assert not (tmp_path / "t").exists() and not (tmp_path / "k").exists()
    assert not [p for p in tmp_path.iterdir() if ".restoring-" in p.name]


def test_a_database_in_use_is_refused(config, db, live_office, tmp_path, postgres_url, runner):
    """The test's own database holds the office's data: a restore never goes into it."""
    path = bk.make_backup(config).path
    before = db.execute("SELECT COUNT(*) FROM applications").fetchone()[0]
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "r"), "--into-database", postgres_url)
    assert result.exit_code == 1 and "is not empty" in result.output
    assert db.execute("SELECT COUNT(*) FROM applications").fetchone()[0] == before
    assert not (tmp_path / "r").exists()


def test_a_failing_pg_restore_leaves_the_database_as_it_was(config, db, live_office, tmp_path, empty_database):
    """pg_restore runs in one transaction: a type in the way of the first table (no table, so
    the database passes as empty) fails it, and nothing of the backup stays."""
    import psycopg
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("CREATE TYPE outbox AS ENUM ('in_the_way')")
    path = bk.make_backup(config).path
    with pytest.raises(bk.RestoreError) as e:
        bk.restore_backup(path, tmp_path / "r", bk.backup_key(config), into_database=empty_database)
    assert e.value.code == "database_restore_failed" and "pg_restore" in str(e.value) and "error:" in str(e.value)
    assert table_count(empty_database) == 0
    assert not (tmp_path / "r").exists() and not [p for p in tmp_path.iterdir() if ".restoring-" in p.name]


def test_a_postgresql_backup_needs_a_database_and_a_url_without_a_password(config, db, live_office, tmp_path,
                                                                           runner):
    path = bk.make_backup(config).path
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "r"))
    assert result.exit_code == 1 and "--into-database" in result.output
    assert not (tmp_path / "r").exists()
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "r"),
                           "--into-database", "postgresql://m:hunter2@db/x")
    assert result.exit_code == 2 and "must hold no password" in result.output


def test_the_password_reaches_pg_dump_and_pg_restore_in_their_environment_only(config, db, live_office, tmp_path,
                                                                               empty_database, monkeypatch, caplog):
    config = config.replace({"keys": {"database_password": "s3cret-Passw0rd"}})   # trust auth: any is taken
    children = []
    real_popen = subprocess.Popen

    def recording_popen(command, *args, **kw):
        children.append((command, kw.get("env") or {}))
        return real_popen(command, *args, **kw)
    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    made = bk.make_backup(config)
    restored = bk.restore_backup(made.path, tmp_path / "r", bk.backup_key(config), into_database=empty_database,
                                 database_password="s3cret-Passw0rd")
    assert restored.verification.ok
    tools = [command[0] for command, _ in children]
    assert tools == [str(bk.pg_tool("pg_dump", 15)), str(bk.pg_tool("pg_restore", 15))]
    for command, env in children:
        assert not any("s3cret" in part for part in command)
        assert env["PGPASSWORD"] == "s3cret-Passw0rd"
    assert "s3cret" not in caplog.text and "s3cret" not in json.dumps(made.manifest)


def test_a_missing_pg_dump_or_an_unreachable_server_fails_loudly_and_leaves_nothing(config, db, runner, tmp_path,
                                                                                     monkeypatch, config_file):
    monkeypatch.setattr(bk, "PG_BIN_ROOT", tmp_path / "no-postgresql")
    result = runner.invoke("backup")
    assert result.exit_code == 1
    assert "postgresql-client-15" in result.output and "Traceback" not in result.output
    folder = config.path(config.backup.folder)
    assert list(folder.iterdir()) == []
    monkeypatch.undo()

    gone = config.replace({"storage": {"url": f"postgresql:///nowhere?host=127.0.0.1&port={free_port()}"}})
    with pytest.raises(bk.BackupError) as e:
        bk.make_backup(gone)
    assert e.value.code == "database_unreachable" and "cannot reach the PostgreSQL server" in str(e.value)
    assert list(folder.iterdir()) == []


def test_a_failing_pg_dump_says_why_and_leaves_nothing(config, db, live_office, runner, monkeypatch):
    real_start = bk._start_pg_dump

    def with_a_snapshot_gone(command, *args):
        return real_start([part if not part.startswith("--snapshot=") else "--snapshot=00000003-0000001B-1"
                           for part in command], *args)
    monkeypatch.setattr(bk, "_start_pg_dump", with_a_snapshot_gone)
    result = runner.invoke("backup")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "pg_dump failed:" in result.output and "snapshot" in result.output
    assert list(config.path(config.backup.folder).iterdir()) == []


def test_a_full_disk_during_the_dump_fails_loudly_and_stops_pg_dump(config, db, live_office, runner, monkeypatch):
    real_emit = bk._EncryptingWriter._emit
    started = []
    real_start = bk._start_pg_dump

    def remember(*args):
        started.append(real_start(*args))
        return started[-1]

    def emit_until_full(self, chunk, *, last):
        if self._index >= 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_emit(self, chunk, last=last)
    monkeypatch.setattr(bk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bk, "DUMP_PART_BYTES", 4096)
    monkeypatch.setattr(bk, "_start_pg_dump", remember)
    monkeypatch.setattr(bk._EncryptingWriter, "_emit", emit_until_full)
    result = runner.invoke("backup")
    assert result.exit_code == 1
    assert "is full: no backup was made" in result.output and "Traceback" not in result.output
    assert list(config.path(config.backup.folder).iterdir()) == []
    [process] = started
    assert process.poll() is not None       # not left running


def test_postgresql_backups_rotate_as_sqlites(config, db):
    config = config.replace({"backup": {"keep_daily": 1, "keep_weekly": 0}})
    first = bk.make_backup(config, now=datetime(2026, 12, 1, 9, 0, tzinfo=JAPAN))
    second = bk.make_backup(config, now=datetime(2026, 12, 2, 9, 0, tzinfo=JAPAN))
    assert second.removed == [first.path] and not first.path.exists()
    assert second.manifest["engine"] == "postgresql" and second.manifest["database"]["parts"] >= 1


def test_a_sqlite_backup_is_not_restored_into_a_database(tmp_path, empty_database, runner):
    """A SQLite office's backup goes into a folder; given a database, the restore says so."""
    sqlite_config = load_config(ROOT / "config.toml", overrides=overrides_in(tmp_path / "s"), base_dir=tmp_path)
    open_from_config(sqlite_config).conn.close()
    path = bk.make_backup(sqlite_config).path
    with pytest.raises(bk.RestoreError) as e:
        bk.restore_backup(path, tmp_path / "r", bk.backup_key(sqlite_config), into_database=empty_database)
    assert e.value.code == "not_a_postgresql_backup"
    assert table_count(empty_database) == 0 and not (tmp_path / "r").exists()
