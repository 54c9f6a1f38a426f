"""Reception numbers (受付番号) handed to visitors at the kiosk: a prefix and a daily sequence.

"A-012" is the twelfth visit of the day at the kiosks of one office whose prefix is "A":
numbers are counted per office and day, so two offices on one database (PostgreSQL) that both
use "A" each start at A-001. Each kiosk PC that can run apart from the office (kiosk PC mode)
gets its own prefix, so numbers stay unique even while the office server is unreachable. The
counter restarts every day (local time, as the city hall's day starts).
"""
from __future__ import annotations

import re
from datetime import date

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.clock import today_in_japan
from core.errors import MadoguchiError
from core.store.db import write
from core.store.tenancy import key_with_tenant, own_rows

migrations = Migrations("kiosk.reception")
PREFIX_RE = re.compile(r"^[A-Z]{1,3}$")


@migrations()
def m001_reception_counters(db: sqlite_utils.Database) -> None:
    db["reception_counters"].create({"day": str, "prefix": str, "last": int}, pk=("day", "prefix"))


@migrations()
def m002_reception_counters_per_office(db: sqlite_utils.Database) -> None:
    # A new key (SQLite changes no primary key in place): copied, the old table dropped, renamed.
    # A day's count from before this has no office ("").
    db["reception_counters_by_office"].create({"day": str, "office": str, "prefix": str, "last": int},
                                              pk=("day", "office", "prefix"), not_null=("office",),
                                              defaults={"office": ""})
    db.execute("INSERT INTO reception_counters_by_office (day, office, prefix, last)"
               " SELECT day, '', prefix, last FROM reception_counters")
    db.execute("DROP TABLE reception_counters")
    db.execute("ALTER TABLE reception_counters_by_office RENAME TO reception_counters")


@migrations()
def m003_reception_counters_per_tenant(db: sqlite_utils.Database) -> None:
    key_with_tenant(db, "reception_counters", "day", "office", "prefix")   # every town's A-001 (core.store.tenancy)


class ReceptionError(MadoguchiError):
    code = "reception_prefix_invalid"


def next_number(db: sqlite_utils.Database, prefix: str, today: date | None = None, office: str = "") -> str:
    """Take the next number of the day for `prefix` at `office` (core.site's office id; "" when the
    site has no offices) (joins the caller's transaction)."""
    if not PREFIX_RE.match(prefix):
        raise ReceptionError("a reception prefix is 1 to 3 capital letters")
    day = (today or today_in_japan()).isoformat()
    with write(db):
        # One statement, atomic on both engines (PostgreSQL locks the day's row until commit). An
        # office's first number of the day follows the day's count made before counts had offices
        # (an upgrade during opening hours), so no number is handed out twice that day.
        (last,) = db.execute(
            "INSERT INTO reception_counters (day, office, prefix, last) VALUES (?, ?, ?, 1 + COALESCE("
            f"(SELECT c.last FROM reception_counters c WHERE {own_rows(db, 'c')} AND c.day = ?"
            " AND c.office = '' AND c.prefix = ?), 0))"
            " ON CONFLICT (tenant_id, day, office, prefix) DO UPDATE SET last = reception_counters.last + 1"
            " RETURNING last",
            [day, office, prefix, day, prefix]).fetchone()
    return format_number(prefix, last)


def format_number(prefix: str, n: int) -> str:
    return f"{prefix}-{n:03d}"


def issued_today(db: sqlite_utils.Database, prefix: str, today: date | None = None, office: str = "") -> int:
    row = db.execute("SELECT last FROM reception_counters WHERE day = ? AND office = ? AND prefix = ?",
                     [(today or today_in_japan()).isoformat(), office, prefix]).fetchone()
    return row[0] if row else 0
