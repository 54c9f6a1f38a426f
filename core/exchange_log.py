"""The exchange log (like マイナポータル's やりとり履歴): every disclosure or transfer of a
person's data, chained by hash so an edited, removed or reordered entry is detected.

An entry keeps a SHA-256 of the payload, never the payload. Each entry's hash covers its
fields and the previous entry's hash; exported anchors of the head (`head()`) make a
deletion of the tail detectable too.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.store.db import write

migrations = Migrations("core.exchange_log")
GENESIS = "0" * 64

# Who receives or gives the data, and why (事務). Free text is allowed; these are the usual ones.
ACTORS = ("kiosk", "clerk", "system")
PURPOSES = {
    "card_read": "本人確認書類の読取り（申請書の作成）",
    "prereg_fetch": "事前申請の受取り",
    "print": "申請書の印刷",
    "clerk_view": "職員による申請内容の確認",
    "forward": "基幹システムへの連携",
    "log_print": "やりとり履歴の交付",
}
_FIELDS = ("seq", "at", "actor", "counterparty", "purpose", "application_id", "subject_ref",
           "payload_sha256", "result", "prev_hash")


@migrations()
def m001_exchange_log(db: sqlite_utils.Database) -> None:
    db.table("exchange_log").create(
        {"seq": int, "at": str, "actor": str, "counterparty": str, "purpose": str, "application_id": str,
         "subject_ref": str, "payload_sha256": str, "result": str, "prev_hash": str, "entry_hash": str},
        pk="seq",
    )
    db.table("exchange_log").create_index(["application_id"])
    db.table("exchange_log").create_index(["subject_ref"])


def payload_digest(payload: Any) -> str:
    """SHA-256 of bytes, or of canonical JSON for anything else."""
    if not isinstance(payload, (bytes, bytearray)):
        payload = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                             default=str).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def subject_ref(key: str, name: str, birth_date: str) -> str:
    """A keyed hash naming the person without writing their name into the log."""
    norm = "".join((name or "").split()) + "|" + (birth_date or "")
    return hmac.new(key.encode(), norm.encode("utf-8"), hashlib.sha256).hexdigest()


def entry_hash(entry: dict[str, Any]) -> str:
    canonical = json.dumps([entry.get(f) for f in _FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append(db: sqlite_utils.Database, *, actor: str, counterparty: str, purpose: str,
           application_id: str | None, payload: Any, result: str = "ok",
           subject: str | None = None) -> dict[str, Any]:
    """Append one entry. Joins the caller's transaction if there is one (so the log entry
    and the change it records commit together); otherwise takes its own."""
    with write(db):
        last = db.execute("SELECT seq, entry_hash FROM exchange_log ORDER BY seq DESC LIMIT 1").fetchone()
        entry = {
            "seq": (last[0] + 1) if last else 1, "at": iso(utcnow()), "actor": actor,
            "counterparty": counterparty, "purpose": purpose, "application_id": application_id,
            "subject_ref": subject, "payload_sha256": payload_digest(payload), "result": result,
            "prev_hash": last[1] if last else GENESIS,
        }
        entry["entry_hash"] = entry_hash(entry)
        db.execute(f"INSERT INTO exchange_log ({', '.join(entry)}) VALUES ({', '.join('?' * len(entry))})",
                   list(entry.values()))
    return entry


@dataclass
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"exchange log intact: {self.entries} entries"
        return f"exchange log broken at entry {self.first_bad_seq}: {self.problem}"


def entries(db: sqlite_utils.Database, application_id: str | None = None,
            subject: str | None = None) -> Iterator[dict[str, Any]]:
    sql, params = "SELECT * FROM exchange_log", []
    if application_id:
        sql += " WHERE application_id = ?"
        params.append(application_id)
    elif subject:
        sql += " WHERE subject_ref = ?"
        params.append(subject)
    yield from db.query(sql + " ORDER BY seq", params)


def head(db: sqlite_utils.Database) -> dict[str, Any]:
    """The chain head, to export as an anchor: {seq, entry_hash, at}."""
    row = db.execute("SELECT seq, entry_hash, at FROM exchange_log ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return {"seq": 0, "entry_hash": GENESIS, "at": None}
    return {"seq": row[0], "entry_hash": row[1], "at": row[2]}


def verify(db: sqlite_utils.Database, anchors: list[dict[str, Any]] | None = None) -> Verification:
    """Walk the chain from the start; with anchors, also check no anchored entry is gone or changed."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    by_seq: dict[int, str] = {}
    for row in db.query("SELECT * FROM exchange_log ORDER BY seq"):
        seq = row["seq"]
        if seq != expected_seq:
            return Verification(False, count, expected_seq, f"entry {expected_seq} is missing")
        if row["prev_hash"] != expected_prev:
            return Verification(False, count, seq, "does not follow the entry before it")
        if entry_hash(row) != row["entry_hash"]:
            return Verification(False, count, seq, "its contents were changed")
        by_seq[seq] = row["entry_hash"]
        expected_prev, expected_seq, count = row["entry_hash"], seq + 1, count + 1
    for anchor in anchors or []:
        seq = int(anchor["seq"])
        if seq == 0:
            continue
        if seq not in by_seq:
            return Verification(False, count, seq, "an anchored entry is gone (the log was cut short)")
        if by_seq[seq] != anchor["entry_hash"]:
            return Verification(False, count, seq, "differs from its exported anchor")
    return Verification(True, count)
