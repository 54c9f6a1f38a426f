"""Transactional outbox: a confirmed application's record, written in the same SQLite
transaction as the confirmation, then delivered to the core system by a worker.

The record format is versioned (`schema`); bump the version when its shape changes.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import Application, State, iso, utcnow
from core.errors import TransitionError
from core.store.applications import ApplicationStore
from core.store.db import engine_of, is_postgresql, write

migrations = Migrations("core.outbox")
RECORD_SCHEMA = "madoguchi.record/3"   # /2 added catalogue_version and municipality_code, /3 identity_check


@migrations()
def m001_outbox(db: sqlite_utils.Database) -> None:
    db.table("outbox").create(
        {"id": int, "application_id": str, "idempotency_key": str, "record": str, "state": str,
         "attempts": int, "next_attempt_at": str, "last_error": str, "created_at": str, "delivered_at": str},
        pk="id",
        not_null={"application_id", "idempotency_key", "record", "state"},
        defaults={"state": "pending", "attempts": 0},
    )
    db.table("outbox").create_index(["idempotency_key"], unique=True)
    db.table("outbox").create_index(["state", "next_attempt_at"])


@migrations()
def m002_outbox_leases(db: sqlite_utils.Database) -> None:
    """Leases, so two workers never send one row at once and a crashed worker's row is resent."""
    db.table("outbox").add_column("leased_until", str)
    db.table("outbox").add_column("lease_owner", str)
    db.table("outbox").add_column("last_attempt_at", str)
    db.table("outbox").add_column("failed_at", str)


def record_for(app: Application, confirmed_by: str, identity_check: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record the core system receives (documented in docs/record.schema.json). It names the
    catalogue the values were asked with (`data` keys are its field names) and the municipality."""
    from core.catalogue import get_catalogue
    from core.site import current_site

    return {
        "schema": RECORD_SCHEMA,
        "catalogue_version": get_catalogue().version,
        "municipality_code": current_site().code,
        "application_id": app.id,
        "procedures": list(app.procedures),
        "confirmed_at": iso(utcnow()),
        "confirmed_by": confirmed_by,
        "channel": app.channel,
        "reception_number": app.reception_number,
        "data": app.data,
        "sources": app.sources,
        "identity_check": identity_check,
    }


def confirm(db: sqlite_utils.Database, app: Application, actor: str,
            identity_check: dict[str, Any] | None = None) -> dict[str, Any]:
    """Confirm an application and put its record in the outbox, in one transaction (the
    clerk's 本人確認 from core.services.casework.IdentityCheck.as_record goes into the record).

    The idempotency key is the application id plus its record version, so a record is
    delivered once however often a worker retries or restarts.
    """
    if app.state is not State.PRINTED:
        raise TransitionError(f"only a printed application can be confirmed (it is {app.state})",
                              code="not_printed")
    with write(db):
        app.transition(State.CONFIRMED, actor=actor)
        ApplicationStore(db).save(app)
        record = record_for(app, actor, identity_check)
        key = f"{app.id}-v{app.version}"
        db.execute(
            "INSERT INTO outbox (application_id, idempotency_key, record, state, attempts, next_attempt_at, created_at)"
            " VALUES (?, ?, ?, 'pending', 0, ?, ?)",
            [app.id, key, json.dumps(record, ensure_ascii=False, sort_keys=True), iso(utcnow()), iso(utcnow())],
        )
    return record


# ---------------------------------------------------------------- the delivery worker's queries
# (counter.forwarding and counter.pull_api decide what to do; the SQL lives here)

def claim_next(db: sqlite_utils.Database, owner: str, *, now: datetime, until: datetime,
               due_by: datetime) -> dict[str, Any] | None:
    """Lease the next pending row due by `due_by` to `owner` until `until`, in one statement
    (atomic between processes); None when nothing is due."""
    # PostgreSQL: a row another claimer is leasing right now is skipped, not waited for
    # (SQLite's BEGIN IMMEDIATE makes claimers take turns instead).
    skip_locked = " FOR UPDATE SKIP LOCKED" if is_postgresql(db) else ""
    with write(db):
        rows = list(db.query(
            "UPDATE outbox SET leased_until = :until, lease_owner = :owner WHERE id = ("
            " SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= :due"
            " AND (leased_until IS NULL OR leased_until < :now)"
            f" ORDER BY next_attempt_at, id LIMIT 1{skip_locked}) RETURNING *",
            {"until": iso(until), "owner": owner, "now": iso(now), "due": iso(due_by)}))
    return rows[0] if rows else None


def lease_owners(db: sqlite_utils.Database) -> list[str]:
    """The workers holding a lease on a pending row."""
    return [r[0] for r in db.execute(
        "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'pending' AND lease_owner IS NOT NULL")]


def release_leases(db: sqlite_utils.Database, owner: str) -> int:
    """Free the pending rows `owner` holds; returns how many."""
    with write(db):
        return db.execute("UPDATE outbox SET leased_until = NULL, lease_owner = NULL"
                          " WHERE lease_owner = ? AND state = 'pending'", [owner]).rowcount


def mark_delivered(db: sqlite_utils.Database, row_id: int, at: datetime) -> bool:
    """False when the row was not pending (already delivered, or failed meanwhile)."""
    now = iso(at)
    with write(db):
        return db.execute(
            "UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1,"
            " last_attempt_at = ?, last_error = NULL, leased_until = NULL, lease_owner = NULL"
            " WHERE id = ? AND state = 'pending'", [now, now, row_id]).rowcount == 1


def mark_failed(db: sqlite_utils.Database, row_id: int, *, attempts: int, error: str, at: datetime) -> bool:
    """Give up on a pending row (a clerk sees it); False when it was not pending."""
    with write(db):
        return db.execute(
            "UPDATE outbox SET state = 'failed', attempts = ?, last_error = ?, last_attempt_at = ?,"
            " failed_at = ?, leased_until = NULL, lease_owner = NULL WHERE id = ? AND state = 'pending'",
            [attempts, error, iso(at), iso(at), row_id]).rowcount == 1


def backoff_seconds(attempts: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: the n-th retry waits between half and all of
    initial × 2^(n-1), capped at maximum, so many waiting records do not retry in step."""
    base = min(maximum, initial * (2.0 ** min(max(0, attempts - 1), 60)))
    return rng.uniform(base / 2, base) if rng else random.uniform(base / 2, base)


def reschedule(db: sqlite_utils.Database, row_id: int, *, attempts: int, error: str, at: datetime,
               next_attempt_at: datetime) -> bool:
    """Note a failed attempt and when to try again; False when the row was not pending."""
    with write(db):
        return db.execute(
            "UPDATE outbox SET attempts = ?, last_error = ?, last_attempt_at = ?, next_attempt_at = ?,"
            " leased_until = NULL, lease_owner = NULL WHERE id = ? AND state = 'pending'",
            [attempts, error, iso(at), iso(next_attempt_at), row_id]).rowcount == 1


def make_due(db: sqlite_utils.Database, *, errors: Iterable[str], error_prefix: str, at: datetime) -> int:
    """Make every pending row waiting after one of `errors` (or an error starting with
    `error_prefix`) due at `at`; returns how many."""
    errors = list(errors)
    now = iso(at)
    with write(db):
        return db.execute(
            "UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending' AND next_attempt_at > ?"
            f" AND (last_error IN ({','.join('?' * len(errors))}) OR last_error LIKE ?)",
            [now, now, *errors, f"{error_prefix}%"]).rowcount


def due_count(db: sqlite_utils.Database, due_by: datetime, at_most: int) -> int:
    """How many pending rows are due by `due_by`, counting no further than `at_most`."""
    return db.execute("SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?"
                      " LIMIT ?) AS due", [iso(due_by), at_most]).fetchone()[0]


def next_due_at(db: sqlite_utils.Database) -> datetime | None:
    """When the next pending row is due (its lease counted), None when nothing is pending."""
    row = db.execute(
        "SELECT MIN(CASE WHEN leased_until > next_attempt_at THEN leased_until ELSE next_attempt_at END)"
        " FROM outbox WHERE state = 'pending'").fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def pending_after(db: sqlite_utils.Database, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Pending rows with an id above `after_id`, oldest first (the PULL API's pages)."""
    return list(db.query("SELECT id, application_id, idempotency_key, record FROM outbox"
                         " WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?", [after_id, limit]))


def pending_for(db: sqlite_utils.Database, application_id: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM outbox WHERE application_id = ? AND state = 'pending' ORDER BY id",
                         [application_id]))


def by_idempotency_key(db: sqlite_utils.Database, key: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM outbox WHERE idempotency_key = ?", [key]))
    return rows[0] if rows else None


def purge_personal(db: sqlite_utils.Database, application_ids: Iterable[str]) -> int:
    """Remove the values (data, sources, identity_check) from the delivered records of these
    applications (core.retention); the rest of each record and its delivery stay. Returns how many."""
    with write(db):
        return db.execute(_PURGE_PERSONAL_SQL[engine_of(db)], [json.dumps(list(application_ids))]).rowcount


_PURGE_PERSONAL_SQL = {
    "sqlite": "UPDATE outbox SET record = json_remove(record, '$.data', '$.sources', '$.identity_check')"
              " WHERE state = 'delivered' AND application_id IN (SELECT value FROM json_each(?))"
              " AND (json_type(record, '$.data') IS NOT NULL OR json_type(record, '$.sources') IS NOT NULL"
              " OR json_type(record, '$.identity_check') IS NOT NULL)",
    "postgresql": "UPDATE outbox SET record"
                  " = CAST(CAST(record AS jsonb) - 'data' - 'sources' - 'identity_check' AS text)"
                  " WHERE state = 'delivered' AND application_id IN"
                  " (SELECT value FROM json_array_elements_text(CAST(? AS json)))"
                  " AND jsonb_exists_any(CAST(record AS jsonb), ARRAY['data', 'sources', 'identity_check'])",
}


# ---------------------------------------------------------------- status for clerks and operators

def counts_by_state(db: sqlite_utils.Database) -> dict[str, int]:
    return {r["state"]: r["n"] for r in db.query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}


def oldest_pending_since(db: sqlite_utils.Database) -> str | None:
    return db.execute("SELECT MIN(created_at) FROM outbox WHERE state = 'pending'").fetchone()[0]


def retrying(db: sqlite_utils.Database, limit: int = 100) -> list[dict[str, Any]]:
    """Pending rows that failed at least once (without their records)."""
    return list(db.query(
        "SELECT id, application_id, idempotency_key, attempts, last_error, next_attempt_at FROM outbox"
        " WHERE state = 'pending' AND attempts > 0 ORDER BY id LIMIT ?", [limit]))


def failed(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Rows given up on (without their records)."""
    return list(db.query(
        "SELECT id, application_id, idempotency_key, attempts, last_error, failed_at FROM outbox"
        " WHERE state = 'failed' ORDER BY id"))


def requeue_failed(db: sqlite_utils.Database, ids: Iterable[int] | None = None) -> int:
    """Put failed rows (all, or those of `ids`) back in the queue, due now, keeping their
    idempotency keys; returns how many."""
    now = iso(utcnow())
    sql = ("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, failed_at = NULL"
           " WHERE state = 'failed'")
    with write(db):
        if ids is None:
            return db.execute(sql, [now]).rowcount
        return sum(db.execute(sql + " AND id = ?", [now, int(i)]).rowcount for i in ids)


def latest_for(db: sqlite_utils.Database, application_id: str) -> dict[str, Any] | None:
    """An application's newest row (without the record): what the worker did with it."""
    rows = list(db.query(
        "SELECT id, idempotency_key, state, attempts, last_error, next_attempt_at, created_at, delivered_at,"
        " failed_at FROM outbox WHERE application_id = ? ORDER BY id DESC LIMIT 1", [application_id]))
    return rows[0] if rows else None
