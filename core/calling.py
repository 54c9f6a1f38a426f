"""The calling system (呼出): a clerk calls a reception number to a window; the waiting area's
display shows it large and says it. A call keeps the reception number (A-001, what the kiosk
gave the visitor), the window, its office and the time — no name. Reception numbers count per
office (kiosk.reception), so two offices on one database may both call A-001 the same day: a
call is its office's, and each office's display shows its own. It is also where a visit's stay
is timed (reception → call), for the plan's "time spent at the office halved"."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.clock import in_japan
from core.errors import MadoguchiError
from core.site import current_site
from core.store.db import write

migrations = Migrations("core.calling")
NUMBER_RE = re.compile(r"^[A-Z0-9](?:[A-Z0-9-]{0,10}[A-Z0-9])?$")   # A-001, K-004: as the kiosk numbers them
MAX_WINDOW = 40


class CallRefused(MadoguchiError):
    code = "call_refused"


@migrations()
def m001_calls(db: sqlite_utils.Database) -> None:
    db.table("calls").create({"id": int, "day": str, "reception_number": str, "window": str, "called_at": str,
                              "called_by": str}, pk="id", not_null={"day", "reception_number", "window", "called_at"})
    db.table("calls").create_index(["day", "id"])


@migrations()
def m002_calls_per_office(db: sqlite_utils.Database) -> None:
    # The calls made before calls had offices were the main office's (core.site's first office,
    # "" for a site without offices): the site is active before any database is opened.
    db.table("calls").add_column("office", str)
    db.execute("UPDATE calls SET office = ?", [current_site().office_id()])
    db.table("calls").create_index(["day", "office", "id"])


def office_of(office: str | None) -> str:
    """The office a call is made in or shown for: an office of the site, or the main one (the
    first; "" for a site without offices) for None or an id the site does not have."""
    return current_site().office_id(office)


def call(db: sqlite_utils.Database, reception_number: str, window: str, actor: str,
         office: str | None = None) -> dict[str, Any]:
    """Call a number to a window of `office` (office_of) (again, when called before: the display
    says it again)."""
    number = (reception_number or "").strip().upper()
    if not NUMBER_RE.fullmatch(number):
        raise CallRefused("not a reception number", code="bad_reception_number")
    window = (window or "").strip()
    if not window or len(window) > MAX_WINDOW:
        raise CallRefused("no window", code="no_window")
    now = utcnow()
    row = {"day": in_japan(now).date().isoformat(), "office": office_of(office), "reception_number": number,
           "window": window, "called_at": iso(now), "called_by": actor}
    with write(db):
        # "window" quoted: a reserved word in PostgreSQL (and standard SQL).
        cur = db.execute('INSERT INTO calls (day, office, reception_number, "window", called_at, called_by)'
                         " VALUES (:day, :office, :reception_number, :window, :called_at, :called_by)", row)
    return {"id": cur.lastrowid, **row}


LETTERS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    "エー", "ビー", "シー", "ディー", "イー", "エフ", "ジー", "エイチ", "アイ", "ジェー", "ケー", "エル", "エム",
    "エヌ", "オー", "ピー", "キュー", "アール", "エス", "ティー", "ユー", "ブイ", "ダブリュー", "エックス",
    "ワイ", "ゼット"), strict=True))


def announcement(reception_number: str, window: str) -> str:
    """What the waiting area hears: 「受付番号、エーの1番の方、1階 3番窓口へお越しください。」"""
    letters, _, digits = reception_number.partition("-")
    if not digits:
        letters, digits = "", letters
    spoken = "".join(LETTERS.get(ch, ch) for ch in letters)
    number = str(int(digits)) if digits.isdigit() else digits
    return f"受付番号、{spoken + 'の' if spoken else ''}{number}番の方、{window}へお越しください。"


def call_by_id(db: sqlite_utils.Database, call_id: int) -> dict[str, Any] | None:
    if not db["calls"].exists():
        return None
    return next(iter(db.query("SELECT * FROM calls WHERE id = ?", [call_id])), None)


def calls_of(db: sqlite_utils.Database, day: date, office: str | None = None, *, after: int = 0,
             limit: int = 50) -> list[dict[str, Any]]:
    """The day's calls at `office` (office_of), newest first (`after`: only those with a larger
    id, for a display catching up)."""
    if not db["calls"].exists():
        return []
    return [{**r, "called_at": datetime.fromisoformat(r["called_at"])} for r in db.query(
        'SELECT id, office, reception_number, "window", called_at FROM calls WHERE day = ? AND office = ? AND id > ?'
        " ORDER BY id DESC LIMIT ?", [day.isoformat(), office_of(office), after, limit])]


def called_numbers(db: sqlite_utils.Database, day: date) -> dict[tuple[str, str], datetime]:
    """Each (office, number) called that day, with its first call's time."""
    if not db["calls"].exists():
        return {}
    return {(r["office"], r["reception_number"]): datetime.fromisoformat(r["first"]) for r in db.query(
        "SELECT office, reception_number, MIN(called_at) AS first FROM calls WHERE day = ?"
        " GROUP BY office, reception_number", [day.isoformat()])}


def last_call_id(db: sqlite_utils.Database) -> int:
    """The id of the newest call (0 when none)."""
    if not db["calls"].exists():
        return 0
    return db.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0]


def days_called_after(db: sqlite_utils.Database, call_id: int) -> set[date]:
    """The days of the calls newer than `call_id`."""
    if not db["calls"].exists():
        return set()
    return {date.fromisoformat(r[0]) for r in db.execute("SELECT DISTINCT day FROM calls WHERE id > ?", [call_id])}
