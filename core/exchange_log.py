"""The exchange log (like マイナポータル's やりとり履歴): every disclosure or transfer of a
person's data, chained by hash so an edited, removed or reordered entry is detected.

An entry keeps a SHA-256 of the payload, never the payload. Each entry's hash covers its
fields and the previous entry's hash; exported anchors of the head (`head()`) make a
deletion of the tail detectable too.

One chain per tenant (core.store.tenancy): every query keeps to the connection's tenant, also
for the owner's role, which row-level security does not restrict.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.errors import MadoguchiError
from core.keys import subject_key
from core.store.db import json_list, lock, write
from core.store.tenancy import DEFAULT_TENANT, current_tenant, key_with_tenant, own_rows, reading_as, tenant_ids

migrations = Migrations("core.exchange_log")
GENESIS = "0" * 64

# Who receives or gives the data, and why (事務). Free text is allowed; these are the usual ones.
ACTORS = ("kiosk", "clerk", "system")
PURPOSES = {
    "card_read": "本人確認書類の読取り（申請書の作成）",
    "prereg_fetch": "事前申請の受取り",
    "print": "申請書の印刷",
    "reprint": "申請書の再印刷",
    "clerk_view": "職員による申請内容の閲覧",
    "correction": "職員による申請内容の訂正",
    "confirm": "職員による受付の確定（本人確認）",
    "reject": "職員による申請の却下",
    "forward": "基幹システムへの連携",
    "log_print": "やりとり履歴の交付",
    "disclosure": "やりとり履歴の表示（本人の求め）",
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


@migrations()
def m002_fields(db: sqlite_utils.Database) -> None:
    """The names of the fields an entry concerns (a correction's field), as a JSON list."""
    db.table("exchange_log").add_column("fields", str)


@migrations()
def m003_chain_per_tenant(db: sqlite_utils.Database) -> None:
    key_with_tenant(db, "exchange_log", "seq")   # each town's chain counts from 1


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


@dataclass(frozen=True)
class Person:
    """Whom an entry is about. Only `subject_ref` of these reaches the log."""
    name: str | None
    birth_date: str | None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Person:
        """The applicant of an application's data or a JSON form."""
        return cls(data.get("name"), data.get("birth_date"))


def subject_of(config, person: Person | None) -> str | None:
    """The person's subject_ref under the office's subject key; None without both a name and
    a birth date (a ref of half a person would name nobody a clerk can look up)."""
    if person is None or not person.name or not person.birth_date:
        return None
    return subject_ref(subject_key(config), person.name, str(person.birth_date))


def entry_hash(entry: dict[str, Any]) -> str:
    covered = [entry.get(f) for f in _FIELDS]
    if entry.get("fields") is not None:   # entries before m002 have none and hash as they did
        covered.append(entry["fields"])
    canonical = json.dumps(covered, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def lock_chain(db: sqlite_utils.Database) -> None:
    """One appender of this tenant's chain at a time, or two entries would follow one head; other
    tenants' appenders go on."""
    lock(db, f"exchange_log:{current_tenant(db)}")


def _last(db: sqlite_utils.Database):
    """The chain's newest entry as (seq, entry_hash, at), or None."""
    return db.execute(f"SELECT seq, entry_hash, at FROM exchange_log WHERE {own_rows(db)}"
                      " ORDER BY seq DESC LIMIT 1").fetchone()


def append(db: sqlite_utils.Database, config, *, actor: str, counterparty: str, purpose: str,
           application_id: str | None, payload: Any, result: str = "ok",
           person: Person | None = None, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Append one entry about `person` (its subject_ref is computed here); `fields` names the
    fields it concerns (names only, never values). Joins the caller's
    transaction if there is one (so the log entry and the change it records commit together);
    otherwise takes its own."""
    subject = subject_of(config, person)
    with write(db):
        lock_chain(db)
        last = _last(db)
        entry = {
            "seq": (last[0] + 1) if last else 1, "at": iso(utcnow()), "actor": actor,
            "counterparty": counterparty, "purpose": purpose, "application_id": application_id,
            "subject_ref": subject, "payload_sha256": payload_digest(payload), "result": result,
            "prev_hash": last[1] if last else GENESIS,
            "fields": json.dumps(list(fields), ensure_ascii=False) if fields is not None else None,
        }
        entry["entry_hash"] = entry_hash(entry)
        db.execute(f"INSERT INTO exchange_log ({', '.join(entry)}) VALUES ({', '.join('?' * len(entry))})",
                   list(entry.values()))
    return entry


def import_entries(db: sqlite_utils.Database, entries: Iterable[dict[str, Any]]) -> int:
    """Append entries made elsewhere with their own times (a benchmark's year; a log carried over
    from another system), chained and hashed here like any other, so the log still verifies.
    Each entry gives at, actor, counterparty, purpose and may give application_id, subject_ref,
    payload_sha256, result and fields (names)."""
    n = 0
    with write(db):
        lock_chain(db)
        last = _last(db)
        seq, prev = (last[0], last[1]) if last else (0, GENESIS)
        rows = []
        for given in entries:
            seq += 1
            fields = given.get("fields")
            entry = {"seq": seq, "at": given["at"], "actor": given["actor"], "counterparty": given["counterparty"],
                     "purpose": given["purpose"], "application_id": given.get("application_id"),
                     "subject_ref": given.get("subject_ref"), "payload_sha256": given.get("payload_sha256", ""),
                     "result": given.get("result", "ok"), "prev_hash": prev,
                     "fields": json.dumps(list(fields), ensure_ascii=False) if fields is not None else None}
            entry["entry_hash"] = prev = entry_hash(entry)
            rows.append(tuple(entry.values()))
            n += 1
        if rows:
            columns = ("seq", "at", "actor", "counterparty", "purpose", "application_id", "subject_ref",
                       "payload_sha256", "result", "prev_hash", "fields", "entry_hash")
            insert = f"INSERT INTO exchange_log ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            for row in rows:     # one statement per row: the same call on both engines
                db.execute(insert, list(row))
    return n


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


def entries(db: sqlite_utils.Database, application_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Every entry (of one application), oldest first; a person's are `entries_about`."""
    sql, params = f"SELECT * FROM exchange_log WHERE {own_rows(db)}", []
    if application_id:
        sql, params = sql + " AND application_id = ?", [application_id]
    yield from db.query(sql + " ORDER BY seq", params)


def entries_about(db: sqlite_utils.Database, config, person: Person | Iterable[Person],
                  application_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """A person's entries: those naming them (under any of the spellings given: 高崎 and 髙﨑),
    and those about `application_ids` (which finds entries written without a subject too),
    oldest first."""
    people = [person] if isinstance(person, Person) else list(person)
    refs = [ref for ref in (subject_of(config, p) for p in people) if ref]
    return list(db.query(f"SELECT * FROM exchange_log WHERE {own_rows(db)} AND (subject_ref IN (SELECT value FROM"
                         f" {json_list(db)}) OR application_id IN (SELECT value FROM {json_list(db)})) ORDER BY seq",
                         [json.dumps(refs), json.dumps(list(application_ids))]))


def newest(db: sqlite_utils.Database, limit: int, application_id: str | None = None) -> list[dict[str, Any]]:
    """The newest `limit` entries (of one application), oldest first."""
    sql, params = f"SELECT * FROM exchange_log WHERE {own_rows(db)}", []
    if application_id:
        sql, params = sql + " AND application_id = ?", [application_id]
    return list(db.query(f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ?) AS newest ORDER BY seq", [*params, limit]))


def count(db: sqlite_utils.Database, application_id: str) -> int:
    return db.execute(f"SELECT COUNT(*) FROM exchange_log WHERE {own_rows(db)} AND application_id = ?",
                      [application_id]).fetchone()[0]


def first_at(db: sqlite_utils.Database, purpose: str, application_ids: Iterable[str]) -> dict[str, str]:
    """{application id: time of its first entry with `purpose`}, for those that have one."""
    return {r["application_id"]: r["at"] for r in db.query(
        f"SELECT application_id, MIN(at) AS at FROM exchange_log WHERE {own_rows(db)} AND purpose = ?"
        f" AND application_id IN (SELECT value FROM {json_list(db)}) GROUP BY application_id",
        [purpose, json.dumps(list(application_ids))])}


def application_ids_after(db: sqlite_utils.Database, purpose: str, seq: int) -> set[str]:
    """The applications with an entry of `purpose` after entry `seq`."""
    return {r[0] for r in db.execute(
        f"SELECT DISTINCT application_id FROM exchange_log WHERE {own_rows(db)} AND seq > ? AND purpose = ?"
        " AND application_id IS NOT NULL",
        [seq, purpose])}


def last_results(db: sqlite_utils.Database, purpose: str, application_ids: Iterable[str]) -> dict[str, str]:
    """{application id: result of its newest entry with `purpose`}, for those that have one."""
    return {r["application_id"]: r["result"] or "" for r in db.query(
        f"SELECT application_id, result FROM exchange_log WHERE {own_rows(db)} AND seq IN (SELECT MAX(seq)"
        f" FROM exchange_log WHERE {own_rows(db)} AND purpose = ? AND application_id IN (SELECT value FROM"
        f" {json_list(db)}) GROUP BY application_id)",
        [purpose, json.dumps(list(application_ids))])}


def head(db: sqlite_utils.Database) -> dict[str, Any]:
    """The chain head, to export as an anchor: {seq, entry_hash, at}."""
    row = _last(db)
    if row is None:
        return {"seq": 0, "entry_hash": GENESIS, "at": None}
    return {"seq": row[0], "entry_hash": row[1], "at": row[2]}


def heads(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """Each town's chain head, by tenant id (the owner's backup of a shared database)."""
    out = {}
    for tenant in tenant_ids(db):
        with reading_as(db, tenant):
            out[tenant] = head(db)
    return out


def verify_every_town(db: sqlite_utils.Database, anchors: Mapping[str, list[dict[str, Any]]]) -> Verification:
    """`verify` of each town's chain (`anchors`: each town's, by tenant id): intact when every
    one is; else the first broken one, named."""
    total = 0
    for tenant in sorted(set(tenant_ids(db)) | set(anchors)):
        with reading_as(db, tenant):
            checked = verify(db, anchors=list(anchors.get(tenant, [])))
        if not checked.ok:
            where = "" if tenant == DEFAULT_TENANT else f"town {tenant}: "
            return Verification(False, total + checked.entries, checked.first_bad_seq,
                                f"{where}{checked.problem}")
        total += checked.entries
    return Verification(True, total)


class BadAnchors(MadoguchiError):
    code = "bad_anchors"


def read_anchors(path: Path) -> list[dict[str, Any]]:
    """The anchors of a JSON Lines file of exported heads (`madoguchi exchange-log head --append-to`)."""
    anchors = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            anchor = json.loads(line)
            int(anchor["seq"]), str(anchor["entry_hash"])
        except (ValueError, KeyError, TypeError):
            raise BadAnchors(f"{path}:{n}: not an anchor line (JSON with seq and entry_hash)") from None
        anchors.append(anchor)
    return anchors


def verify(db: sqlite_utils.Database, anchors: list[dict[str, Any]] | None = None) -> Verification:
    """Walk the chain from the start; with anchors, also check no anchored entry is gone or changed."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    by_seq: dict[int, str] = {}
    for row in db.query(f"SELECT * FROM exchange_log WHERE {own_rows(db)} ORDER BY seq"):
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
