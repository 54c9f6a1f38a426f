import threading

import pytest

from core import exchange_log as xlog
from core.store.db import open_from_config
from tests.helpers import tamper

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)


def fill(db, n=5, config=None):
    for i in range(n):
        xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="card", purpose="card_read",
                    application_id=f"APP{i}", payload={"name": "山田", "i": i})


def test_entries_keep_a_hash_of_the_payload_not_the_payload(db):
    fill(db, 1)
    row = next(xlog.entries(db))
    assert row["payload_sha256"] == xlog.payload_digest({"name": "山田", "i": 0})
    assert "山田" not in repr(row)


def test_intact_log_verifies(db):
    fill(db)
    result = xlog.verify(db, anchors=[xlog.head(db)])
    assert result.ok and result.entries == 5


def test_imported_entries_keep_their_times_and_chain_on_so_the_log_verifies(db):
    fill(db, 2)
    made = [{"at": f"2026-0{m}-01T00:00:00+00:00", "actor": "clerk:sato", "counterparty": "clerk:sato",
             "purpose": "clerk_view", "application_id": f"OLD{m}", "fields": ["name"]} for m in (1, 2, 3)]
    assert xlog.import_entries(db, made) == 3
    fill(db, 1)
    rows = list(xlog.entries(db))
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["at"] for r in rows[2:5]] == [e["at"] for e in made]
    assert xlog.verify(db, anchors=[xlog.head(db)]).ok
    assert xlog.import_entries(db, []) == 0


def test_edited_entry_is_detected(db, config):
    fill(db)
    tamper(config, "UPDATE exchange_log SET result = 'ok-ish' WHERE seq = 3")
    result = xlog.verify(db)
    assert not result.ok and result.first_bad_seq == 3


def test_removed_and_reordered_entries_are_detected(db):
    fill(db)
    db.execute("DELETE FROM exchange_log WHERE seq = 2")
    assert xlog.verify(db).first_bad_seq == 2


def test_a_cut_tail_is_detected_only_with_an_anchor(db):
    fill(db)
    anchor = xlog.head(db)
    db.execute("DELETE FROM exchange_log WHERE seq >= 4")
    assert xlog.verify(db).ok  # the chain that is left is consistent…
    result = xlog.verify(db, anchors=[anchor])
    assert not result.ok and result.first_bad_seq == 5  # …but the anchor knows it was longer


def test_an_entry_names_its_person_by_the_keyed_subject_ref_only(db, config):
    from core.keys import subject_key

    entry = xlog.append(db, config, actor="clerk:sato", counterparty="madoguchi", purpose="clerk_view",
                        application_id="APP1", payload={}, person=xlog.Person("山田　太郎", "1985-04-01"))
    assert entry["subject_ref"] == xlog.subject_ref(subject_key(config), "山田太郎", "1985-04-01")
    assert "山田" not in repr(list(xlog.entries(db)))
    # The same person however the name is spaced; nobody without a birth date.
    assert xlog.entries_about(db, config, xlog.Person("山田 太郎", "1985-04-01"))[0]["seq"] == entry["seq"]
    half = xlog.append(db, config, actor="clerk:sato", counterparty="madoguchi", purpose="clerk_view",
                       application_id="APP2", payload={}, person=xlog.Person("山田　太郎", None))
    assert half["subject_ref"] is None
    assert [e["seq"] for e in xlog.entries_about(db, config, xlog.Person("山田太郎", "1985-04-01"), ["APP2"])] \
        == [entry["seq"], half["seq"]]


def test_the_subject_key_is_read_once_per_version_of_its_file(db, config, monkeypatch):
    import os
    from pathlib import Path

    from core.keys import subject_key

    person = xlog.Person("山田　太郎", "1985-04-01")
    subject_key(config)   # created (or read) before counting
    path = config.path(config.keys.dir) / "subject.key"
    real_read_text = Path.read_text
    reads = []

    def counted(self, *args, **kwargs):
        if self == path:
            reads.append(self)
        return real_read_text(self, *args, **kwargs)
    monkeypatch.setattr(Path, "read_text", counted)
    refs = {xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="card", purpose="card_read",
                        application_id=f"APP{i}", payload={}, person=person)["subject_ref"] for i in range(5)}
    assert len(refs) == 1 and reads == []
    # A new key written to the file is used from the next entry on.
    path.write_text("another-key\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    entry = xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="card", purpose="card_read",
                        application_id="APP9", payload={}, person=person)
    assert entry["subject_ref"] == xlog.subject_ref("another-key", "山田太郎", "1985-04-01") and len(reads) == 1


def test_concurrent_appenders_never_fork_the_chain(db, config):
    """Appenders on connections of their own, at once: one chain, every entry on it, verified."""
    errors: list[str] = []
    start = threading.Barrier(4)

    def appender(n):
        try:
            own = open_from_config(config)
            start.wait()
            fill(own, 15, config)
            own.conn.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=appender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = list(xlog.entries(db))
    assert [r["seq"] for r in rows] == list(range(1, 61))
    assert len({r["prev_hash"] for r in rows}) == 60      # no two entries follow one head
    assert xlog.verify(db, anchors=[xlog.head(db)]).ok


def test_who_saw_what_by_application(db, config):
    """The queries over lists of applications (JSON arrays on both engines)."""
    fill(db, 3)
    xlog.append(db, config, actor="system", counterparty="core", purpose="forward", application_id="APP1",
                payload={}, result="failed")
    xlog.append(db, config, actor="system", counterparty="core", purpose="forward", application_id="APP1",
                payload={}, result="ok")
    assert xlog.last_results(db, "forward", ["APP1", "APP2"]) == {"APP1": "ok"}
    assert set(xlog.first_at(db, "card_read", ["APP0", "APP2", "APP9"])) == {"APP0", "APP2"}
    assert [e["application_id"] for e in xlog.entries_about(db, config, [], ["APP2"])] == ["APP2"]
    assert [e["seq"] for e in xlog.newest(db, 2)] == [4, 5] and xlog.count(db, "APP1") == 3
    assert [e["purpose"] for e in xlog.newest(db, 5, "APP1")] == ["card_read", "forward", "forward"]
