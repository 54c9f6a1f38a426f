"""`madoguchi exchange-log` on a real database file, and the demo's log from `madoguchi init`."""
from __future__ import annotations

import json

from core import exchange_log as xlog
from core.store.applications import ApplicationStore
from counter import forwarding
from tests.fixtures_forwarding import confirmed_applications
from tests.helpers import madoguchi, tamper


def forwarded_log(db, config, n=4):
    confirmed_applications(db, n)
    forwarding.Forwarder(config, db=db).run_once()
    return list(xlog.entries(db))


def test_verify_passes_on_an_intact_log(db, config, config_file):
    forwarded_log(db, config)
    result = madoguchi("exchange-log", "verify", config_file=config_file)
    assert result.returncode == 0, result.stderr
    assert "intact: 4 entries" in result.stdout


def test_an_edited_row_is_detected_and_named(db, config, config_file):
    entries = forwarded_log(db, config)
    tamper(config, "UPDATE exchange_log SET result = 'failed' WHERE seq = 3")
    result = madoguchi("exchange-log", "verify", config_file=config_file)
    assert result.returncode == 1
    assert "entry 3" in result.stderr and "changed" in result.stderr
    # Recomputing that row's hash does not help: the next entry no longer follows it.
    row = dict(next(e for e in entries if e["seq"] == 3), result="failed")
    tamper(config, "UPDATE exchange_log SET entry_hash = ? WHERE seq = 3", [xlog.entry_hash(row)])
    result = madoguchi("exchange-log", "verify", config_file=config_file)
    assert result.returncode == 1 and "entry 4" in result.stderr


def test_removed_and_reordered_rows_are_detected(db, config, runner):
    forwarded_log(db, config)
    tamper(config, "UPDATE exchange_log SET application_id = (SELECT application_id FROM exchange_log WHERE seq = 1)"
                   " WHERE seq = 2")
    assert runner.invoke("exchange-log", "verify").exit_code == 1
    db.execute("DELETE FROM exchange_log")
    forwarded_log(db, config)
    # Swap two entries' contents (a reorder keeps seq numbers but not the chain).
    a, b = list(db.query("SELECT * FROM exchange_log WHERE seq IN (2, 3) ORDER BY seq"))
    cols = [c for c in a if c != "seq"]
    tamper(config, f"UPDATE exchange_log SET {', '.join(f'{c} = ?' for c in cols)} WHERE seq = 2",
           [b[c] for c in cols])
    tamper(config, f"UPDATE exchange_log SET {', '.join(f'{c} = ?' for c in cols)} WHERE seq = 3",
           [a[c] for c in cols])
    result = runner.invoke("exchange-log", "verify")
    assert result.exit_code == 1 and "entry 2" in result.stderr


def test_a_deleted_row_is_detected(db, config, runner):
    forwarded_log(db, config)
    tamper(config, "DELETE FROM exchange_log WHERE seq = 2")
    result = runner.invoke("exchange-log", "verify")
    assert result.exit_code == 1 and "entry 2" in result.stderr and "missing" in result.stderr


def test_exported_anchors_detect_a_cut_tail(db, config, runner, tmp_path):
    forwarded_log(db, config, 2)
    anchors = tmp_path / "anchors.jsonl"
    first = runner.invoke("exchange-log", "head", "--append-to", str(anchors))
    forwarded_log(db, config, 2)
    runner.invoke("exchange-log", "head", "--append-to", str(anchors))
    lines = [json.loads(x) for x in anchors.read_text().splitlines()]
    assert [a["seq"] for a in lines] == [2, 4] and json.loads(first.stdout) == lines[0]
    ok = runner.invoke("exchange-log", "verify", "--anchors", str(anchors))
    assert ok.exit_code == 0 and "2 anchor(s) match" in ok.stdout
    tamper(config, "DELETE FROM exchange_log WHERE seq >= 3")
    assert runner.invoke("exchange-log", "verify").exit_code == 0  # looks fine alone…
    cut = runner.invoke("exchange-log", "verify", "--anchors", str(anchors))
    assert cut.exit_code == 1 and "entry 4" in cut.stderr and "cut short" in cut.stderr  # …not with anchors
    anchors.write_text("not json\n")
    bad = runner.invoke("exchange-log", "verify", "--anchors", str(anchors))
    assert bad.exit_code == 1 and "not an anchor line" in bad.output


def test_list_shows_entries_without_personal_data(db, config, runner):
    apps = confirmed_applications(db, 2)
    forwarding.Forwarder(config, db=db).run_once()
    result = runner.invoke("exchange-log", "list", "--application", apps[1].id, "--json")
    rows = [json.loads(x) for x in result.output.splitlines()]
    assert [r["application_id"] for r in rows] == [apps[1].id] and rows[0]["purpose"] == "forward"
    assert "髙橋" not in result.output and "東京都" not in result.output
    assert runner.invoke("exchange-log", "list", "--limit", "1").output.count("\n") == 1


def test_forward_status_and_retry_commands(db, config, runner, config_file):
    from tests.helpers import free_port
    config_file.write_text(config_file.read_text().replace(
        "[backend]\n", f'[backend]\nmode = "push"\nurl = "http://127.0.0.1:{free_port()}/records"\nmax_attempts = 1\n'))
    apps = confirmed_applications(db, 1)
    once = runner.invoke("forward", "--once")
    assert "to retry 1" in once.output
    status = runner.invoke("forward", "--status")
    assert status.exit_code == 2 and "FAILED" in status.output and apps[0].id in status.output
    assert "connection_refused" in status.output and "山田" not in status.output
    as_json = json.loads(runner.invoke("forward", "--status", "--json").output)
    assert as_json["failed"] == 1
    assert "1 failed record(s) queued again" in runner.invoke("forward", "--retry-failed").output
    assert forwarding.status(db)["pending"] == 1


def test_init_demo_has_a_real_log(config, config_file):
    result = madoguchi("init", config_file=config_file)
    assert result.returncode == 0, result.stderr
    from core.store.db import open_from_config
    db = open_from_config(config)
    entries = list(xlog.entries(db))
    purposes = {e["purpose"] for e in entries}
    assert {"card_read", "prereg_fetch", "print", "clerk_view", "forward"} <= purposes
    forwarded = [e["application_id"] for e in entries if e["purpose"] == "forward"]
    store = ApplicationStore(db)
    assert len(forwarded) == 3 and all(store.get(a).state == "forwarded" for a in forwarded)
    # File mode (the default) really delivered them into the folder.
    folder = config.path(config.backend.folder)
    assert len(list(folder.glob("*.jsonl"))) == 3
    # Each person's entries can be found by their subject reference, without their name in the log.
    by_subject = {}
    for e in entries:
        by_subject.setdefault(e["subject_ref"], set()).add(e["purpose"])
    assert all(len(purposes) >= 4 for purposes in by_subject.values()) and len(by_subject) == 3
    assert madoguchi("exchange-log", "verify", config_file=config_file).returncode == 0
    again = madoguchi("init", config_file=config_file)  # safe to run again: no second demo
    assert again.returncode == 0 and len(list(xlog.entries(db))) == len(entries)
    db.conn.close()


def test_list_shows_japans_time(db, config, runner):
    confirmed_applications(db, 1)
    forwarding.Forwarder(config, db=db).run_once()
    db.execute("UPDATE exchange_log SET at = '2026-01-01T15:30:00+00:00'")
    out = runner.invoke("exchange-log", "list", "--limit", "1").output
    assert "2026-01-02 00:30:00 JST" in out and "15:30" not in out
