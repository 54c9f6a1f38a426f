"""Reception numbers (受付番号) handed to visitors at the kiosk: a prefix and a daily sequence.

"A-012" is the twelfth visit of the day at the kiosks whose prefix is "A". Each kiosk PC
that can run apart from the office (kiosk PC mode) gets its own prefix, so numbers stay
unique even while the office server is unreachable. The counter restarts every day
(local time, as the city hall's day starts).
"""
from __future__ import annotations

import re
from datetime import date

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.clock import today_in_japan
from core.errors import MadoguchiError
from core.store.db import write

migrations = Migrations("kiosk.reception")
PREFIX_RE = re.compile(r"^[A-Z]{1,3}$")


@migrations()
def m001_reception_counters(db: sqlite_utils.Database) -> None:
    db["reception_counters"].create({"day": str, "prefix": str, "last": int}, pk=("day", "prefix"))


class ReceptionError(MadoguchiError):
    code = "reception_prefix_invalid"


def next_number(db: sqlite_utils.Database, prefix: str, today: date | None = None) -> str:
    """Take the next number of the day for `prefix` (joins the caller's transaction)."""
    if not PREFIX_RE.match(prefix):
        raise ReceptionError("a reception prefix is 1 to 3 capital letters")
    day = (today or today_in_japan()).isoformat()
    with write(db):
        # One statement, atomic on both engines (PostgreSQL locks the day's row until commit).
        (last,) = db.execute(
            "INSERT INTO reception_counters (day, prefix, last) VALUES (?, ?, 1)"
            " ON CONFLICT (day, prefix) DO UPDATE SET last = reception_counters.last + 1 RETURNING last",
            [day, prefix]).fetchone()
    return format_number(prefix, last)


def format_number(prefix: str, n: int) -> str:
    return f"{prefix}-{n:03d}"


def issued_today(db: sqlite_utils.Database, prefix: str, today: date | None = None) -> int:
    row = db.execute("SELECT last FROM reception_counters WHERE day = ? AND prefix = ?",
                     [(today or today_in_japan()).isoformat(), prefix]).fetchone()
    return row[0] if row else 0
