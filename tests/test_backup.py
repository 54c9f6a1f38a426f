"""`madoguchi backup` and `madoguchi restore` (core.backup): the restore drill, the envelope,
rotation, and failures that must leave nothing behind."""
from __future__ import annotations

import errno
import json
import re
import stat
from datetime import datetime, timedelta

import pytest

from core import backup as bk
from core import exchange_log as xlog
from core.clock import JAPAN
from core.config import load_config
from core.store.applications import ApplicationStore
from core.store.db import open_database, write
from tests.conftest import test_overrides as overrides_in
from tests.fixtures_counter import MOVE_IN, PASSWORD, KioskWriting, sign_in, text_of
from tests.helpers import ROOT, madoguchi

# These back up and restore SQLite's file (its online backup, the folder restored into); PostgreSQL's
# backups are pg_dump's, with tests of their own.
pytestmark = pytest.mark.sqlite_only("madoguchi backup of SQLite's file")


def restored_config(tmp_path, folder):
    """A config that runs on a restored folder (the city's config with the two paths changed)."""
    overrides = overrides_in(tmp_path / "restored-site")
    overrides["storage"] = {"path": str(folder / bk.DB_NAME)}
    overrides["keys"] = {"dir": str(folder / bk.KEYS_FOLDER)}
    return load_config(ROOT / "config.toml", overrides=overrides, base_dir=tmp_path)


def test_restore_drill(config, db, live_office, runner, tmp_path, monkeypatch):
    """Back up while the kiosk writes, restore into a new folder, run the counter on it: the
    data is there, the log verifies, and a changed backup is refused."""
    kiosk = KioskWriting(lambda: open_database(config.path(config.storage.path)))
    kiosk.pause_at(monkeypatch, bk, "describe")     # copied: the backup goes on while the kiosk writes two more
    result = kiosk.backup(runner)
    assert result.exit_code == 0, result.output
    [backup_file] = list(config.path(config.backup.folder).glob("*.mdgbak"))
    assert str(backup_file) in result.output

    into = tmp_path / "restored"
    result = runner.invoke("restore", str(backup_file), "--into", str(into))
    assert result.exit_code == 0, result.output
    assert "exchange log intact" in result.output

    restored = open_database(into / bk.DB_NAME)
    manifest = json.loads((into / bk.MANIFEST_NAME).read_text())
    ids = {app.id for app in ApplicationStore(restored).list()}
    assert {live_office["confirmed"], live_office["rejected"]} <= ids
    kiosk.check_copy(ids)      # one moment: the kiosk's applications up to it, none after it
    assert xlog.head(restored) == manifest["exchange_log_head"]
    assert xlog.verify(restored).ok
    restored.conn.close()

    from web import create_app
    app = create_app(restored_config(tmp_path, into))
    app.config["TESTING"] = True
    client = sign_in(app.test_client(), "sato", PASSWORD)
    page = client.get(f"/counter/applications/{live_office['confirmed']}")
    assert page.status_code == 200
    assert "山田" in text_of(page) and "03-9999-0000" in text_of(page)

    tampered = tmp_path / "tampered.mdgbak"
    data = bytearray(backup_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    result = runner.invoke("restore", str(tampered), "--into", str(tmp_path / "from-tampered"))
    assert result.exit_code == 1
    assert "damaged or was changed" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "from-tampered").exists()
    assert not [p for p in tmp_path.iterdir() if ".restoring-" in p.name]


def test_a_backup_is_private_named_in_japan_time_and_reads_as_nothing(config, db, live_office, runner):
    before = datetime.now(JAPAN).replace(microsecond=0)
    assert runner.invoke("backup").exit_code == 0
    folder = config.path(config.backup.folder)
    [path] = list(folder.iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    stamp = re.fullmatch(r"madoguchi-(\d{8}-\d{6})\.mdgbak", path.name).group(1)
    made = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=JAPAN)
    assert before <= made <= datetime.now(JAPAN)
    raw = path.read_bytes()
    for plain in ("山田".encode(), b"SQLite format 3", b"manifest", b"subject.key", MOVE_IN["phone"].encode()):
        assert plain not in raw


def test_the_backup_holds_the_keys_a_restore_needs_but_never_the_backup_key(config, db, live_office, tmp_path):
    from core.keys import ensure_keys
    ensure_keys(config)
    result = bk.make_backup(config)
    assert set(result.manifest["keys"]) == {"session.key", "office_api.key", "kiosk_device.token", "subject.key",
                                            "signin_throttle.key"}
    restored = bk.restore_backup(result.path, tmp_path / "r", bk.backup_key(config))
    keys = config.path(config.keys.dir)
    assert sorted(p.name for p in restored.keys_folder.iterdir()) == sorted(result.manifest["keys"])
    assert (restored.keys_folder / "subject.key").read_text() == (keys / "subject.key").read_text()
    assert not (restored.keys_folder / "backup.key").exists()
    assert stat.S_IMODE(restored.keys_folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in restored.folder.rglob("*") if p.is_file())
    # The manifest beside the restored database says what it is, and nothing personal.
    manifest = json.loads((restored.folder / bk.MANIFEST_NAME).read_text())
    assert manifest["database"]["size"] > 0 and "core.exchange_log:m002_fields" in manifest["migrations"]
    assert "山田" not in json.dumps(manifest, ensure_ascii=False)


def test_a_new_machine_restores_with_the_exported_key_only(config, db, live_office, runner, tmp_path):
    runner.invoke("backup")
    [path] = list(config.path(config.backup.folder).iterdir())
    key_file = tmp_path / "exported.key"
    result = runner.invoke("backup", "key", "export", "--out", str(key_file))
    assert result.exit_code == 0 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert runner.invoke("backup", "key", "export", "--out", str(key_file)).exit_code == 1   # never overwritten
    # The keys folder is gone with the old machine.
    import shutil
    shutil.rmtree(config.path(config.keys.dir))
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "a"))
    assert result.exit_code == 1 and "--key-file" in result.output
    assert not (config.path(config.keys.dir) / "backup.key").exists()     # restore never makes a key
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "b"), "--key-file", str(key_file))
    assert result.exit_code == 0, result.output


def test_another_key_is_refused_and_writes_nothing(config, db, live_office, tmp_path):
    result = bk.make_backup(config)
    with pytest.raises(bk.RestoreError) as e:
        bk.restore_backup(result.path, tmp_path / "r", b"\x01" * 32)
    assert e.value.code == "wrong_key" and "another backup key" in str(e.value)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("damage", ["drop_last_chunk", "cut_inside", "swap_chunks", "append", "not_a_backup"])
def test_a_changed_file_is_refused(config, db, live_office, tmp_path, monkeypatch, damage):
    monkeypatch.setattr(bk, "CHUNK_BYTES", 4096)     # many chunks, so chunks can be dropped and swapped
    path = bk.make_backup(config).path
    data = path.read_bytes()
    records, at = [], bk.HEADER_BYTES
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        records.append(data[at:at + 4 + size])
        at += 4 + size
    assert len(records) > 3
    header = data[:bk.HEADER_BYTES]
    changed = {"drop_last_chunk": header + b"".join(records[:-1]),
               "cut_inside": data[:-100],
               "swap_chunks": header + records[1] + records[0] + b"".join(records[2:]),
               "append": data + records[-1],
               "not_a_backup": b"SQLite format 3\x00" + data[16:]}[damage]
    path.write_bytes(changed)
    with pytest.raises(bk.RestoreError) as e:
        bk.restore_backup(path, tmp_path / "r", bk.backup_key(config))
    assert e.value.code == ("not_a_backup" if damage == "not_a_backup" else "tampered")
    assert not (tmp_path / "r").exists()


def test_restore_refuses_a_folder_in_use_unless_told(config, db, live_office, tmp_path):
    path = bk.make_backup(config).path
    into = tmp_path / "in-use"
    into.mkdir()
    (into / "notes.txt").write_text("mine")
    with pytest.raises(bk.RestoreError) as e:
        bk.restore_backup(path, into, bk.backup_key(config))
    assert e.value.code == "target_not_empty"
    assert sorted(p.name for p in into.iterdir()) == ["notes.txt"]
    bk.restore_backup(path, into, bk.backup_key(config), replace=True)
    assert (into / "notes.txt").read_text() == "mine" and (into / bk.DB_NAME).exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert bk.restore_backup(path, empty, bk.backup_key(config)).verification.ok


def test_restore_into_a_folder_it_cannot_make_says_so(config, db, live_office, runner, tmp_path):
    path = bk.make_backup(config).path
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke("restore", str(path), "--into", str(blocker / "restored"))
    assert result.exit_code == 1
    assert "cannot write to" in result.output and "Traceback" not in result.output


def test_restore_warns_of_a_backup_from_a_newer_version(config, db, live_office, runner, tmp_path):
    with write(db):     # as a newer version would have recorded its migration
        db.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
                   " VALUES ('core.sealed', 'm999_from_the_future', '2027-04-01 00:00:00+00:00')")
    bk.make_backup(config)
    [path] = list(config.path(config.backup.folder).iterdir())
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "r"))
    assert result.exit_code == 0
    assert "made by a newer version" in result.output and "core.sealed:m999_from_the_future" in result.output


def test_restore_says_when_the_log_does_not_verify(config, db, live_office, runner, tmp_path):
    with write(db):
        db.execute("UPDATE exchange_log SET counterparty = 'someone' WHERE seq = 2")
    assert runner.invoke("backup").exit_code == 0
    [path] = list(config.path(config.backup.folder).iterdir())
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert "exchange log broken at entry 2" in result.output
    assert (tmp_path / "r" / bk.DB_NAME).exists()       # kept, to be looked at


def test_restore_checks_exported_anchors(config, db, live_office, runner, tmp_path):
    anchors = tmp_path / "anchors.jsonl"
    bk.make_backup(config)
    anchors.write_text(json.dumps({"seq": 9999, "entry_hash": "0" * 64}) + "\n")
    [path] = list(config.path(config.backup.folder).iterdir())
    result = runner.invoke("restore", str(path), "--into", str(tmp_path / "r"), "--anchors", str(anchors))
    assert result.exit_code == 1 and "cut short" in result.output


def test_a_full_disk_fails_loudly_and_leaves_no_partial_file(config, db, live_office, runner, monkeypatch):
    real_emit = bk._EncryptingWriter._emit

    def emit_until_full(self, chunk, *, last):
        if self._index >= 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_emit(self, chunk, last=last)
    monkeypatch.setattr(bk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bk._EncryptingWriter, "_emit", emit_until_full)
    result = runner.invoke("backup")
    assert result.exit_code == 1
    assert "is full: no backup was made" in result.output and "Traceback" not in result.output
    folder = config.path(config.backup.folder)
    assert list(folder.iterdir()) == []
    assert not [p for p in config.path(config.storage.path).parent.iterdir() if p.name.startswith(".backup-")]


def test_an_unwritable_folder_fails_loudly(config, db, live_office, runner, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke("backup", "--to", str(blocker / "backups"))
    assert result.exit_code == 1
    assert "cannot write the backup to" in result.output and "Traceback" not in result.output


def test_rotation_keeps_the_newest_of_each_day_and_week(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    start = datetime(2026, 11, 1, 3, 0, tzinfo=JAPAN)     # Sunday 1 to Monday 30 November
    names = []
    for day in range(30):
        for hour in (3, 15):
            names.append(bk.backup_name(start + timedelta(days=day, hours=hour - 3)))
    for name in names:
        (folder / name).write_bytes(b"x")
    (folder / "notes.txt").write_text("not a backup")
    removed = bk.rotate(folder, keep_daily=3, keep_weekly=3)
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted(["notes.txt",
                           "madoguchi-20261130-150000.mdgbak", "madoguchi-20261129-150000.mdgbak",
                           "madoguchi-20261128-150000.mdgbak",   # the newest of the last three days
                           # the three newest weeks: 30 Nov and 29 Nov are kept already, then Sun 22
                           "madoguchi-20261122-150000.mdgbak"])
    assert len(removed) == len(names) - 4
    assert bk.rotate(folder, keep_daily=0, keep_weekly=0) == []


def test_the_settings_rotate_after_each_backup(config, db, live_office, tmp_path):
    config = config.replace({"backup": {"keep_daily": 1, "keep_weekly": 0}})
    first = bk.make_backup(config, now=datetime(2026, 12, 1, 9, 0, tzinfo=JAPAN))
    second = bk.make_backup(config, now=datetime(2026, 12, 2, 9, 0, tzinfo=JAPAN))
    assert not first.path.exists() and second.path.exists() and second.removed == [first.path]
    assert second.path.name == "madoguchi-20261202-090000.mdgbak"
    same_second = bk.make_backup(config.replace({"backup": {"keep_daily": 0}}),
                                 now=datetime(2026, 12, 2, 9, 0, tzinfo=JAPAN))
    assert same_second.path.name == "madoguchi-20261202-090000-2.mdgbak" and second.path.exists()


def test_the_installed_command_backs_up_and_restores(config, db, live_office, config_file, tmp_path):
    made = madoguchi("backup", config_file=config_file)
    assert made.returncode == 0, made.stderr
    [path] = list(config.path(config.backup.folder).iterdir())
    restored = madoguchi("restore", str(path), "--into", str(tmp_path / "r"), config_file=config_file)
    assert restored.returncode == 0, restored.stderr
    assert "exchange log intact" in restored.stdout
    for output in (made.stdout + made.stderr, restored.stdout + restored.stderr):
        assert "山田" not in output and "髙橋" not in output     # paths and counts only
