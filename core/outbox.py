"""Transactional outbox: a confirmed application's record, written in the same SQLite
transaction as the confirmation, then delivered to the core system by a worker.

The record format is versioned (`schema`); bump the version when its shape changes.
"""
from __future__ import annotations

import json
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import Application, State, iso, utcnow
from core.errors import TransitionError
from core.store.applications import ApplicationStore
from core.store.db import write

migrations = Migrations("core.outbox")
RECORD_SCHEMA = "madoguchi.record/1"


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


def record_for(app: Application, confirmed_by: str) -> dict[str, Any]:
    """The record the core system receives (documented in docs/record.schema.json)."""
    return {
        "schema": RECORD_SCHEMA,
        "application_id": app.id,
        "procedures": list(app.procedures),
        "confirmed_at": iso(utcnow()),
        "confirmed_by": confirmed_by,
        "channel": app.channel,
        "reception_number": app.reception_number,
        "data": app.data,
        "sources": app.sources,
    }


def confirm(db: sqlite_utils.Database, app: Application, actor: str) -> dict[str, Any]:
    """Confirm an application and put its record in the outbox, in one transaction.

    The idempotency key is the application id plus its record version, so a record is
    delivered once however often a worker retries or restarts.
    """
    if app.state is not State.PRINTED:
        raise TransitionError(f"only a printed application can be confirmed (it is {app.state})",
                              code="not_printed")
    with write(db):
        app.transition(State.CONFIRMED, actor=actor)
        ApplicationStore(db).save(app)
        record = record_for(app, actor)
        key = f"{app.id}-v{app.version}"
        db.execute(
            "INSERT INTO outbox (application_id, idempotency_key, record, state, attempts, next_attempt_at, created_at)"
            " VALUES (?, ?, ?, 'pending', 0, ?, ?)",
            [app.id, key, json.dumps(record, ensure_ascii=False, sort_keys=True), iso(utcnow()), iso(utcnow())],
        )
    return record
