"""A visitor at a kiosk touched "call staff": the call waits on the counter's queue until a clerk
says they are going. A call names the kiosk and the screen it was made from, never the visitor."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.store.db import write

migrations = Migrations("core.help_calls")
MAX_SCREEN = 40


@migrations()
def m001_help_calls(db: sqlite_utils.Database) -> None:
    db.table("help_calls").create(
        {"id": int, "kiosk_id": str, "screen": str, "called_at": str, "answered_at": str, "answered_by": str},
        pk="id", not_null={"kiosk_id", "called_at"},
    )
    db.table("help_calls").create_index(["answered_at"])


def call(db: sqlite_utils.Database, kiosk_id: str, screen: str = "") -> dict[str, Any]:
    """A kiosk asks for staff; one open call a kiosk (touching the button again changes nothing)."""
    screen = "".join(ch for ch in str(screen) if ch.isascii() and (ch.isalnum() or ch in "_-"))[:MAX_SCREEN]
    called_at = iso(utcnow())
    with write(db):
        open_one = next(iter(db.query("SELECT * FROM help_calls WHERE kiosk_id = ? AND answered_at IS NULL",
                                      [kiosk_id])), None)
        if open_one is not None:
            return open_one
        cur = db.execute("INSERT INTO help_calls (kiosk_id, screen, called_at) VALUES (?, ?, ?)",
                         [kiosk_id, screen, called_at])
        return {"id": cur.lastrowid, "kiosk_id": kiosk_id, "screen": screen, "called_at": called_at,
                "answered_at": None, "answered_by": None}


def open_calls(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The calls no clerk has answered yet, oldest first (`called_at` as a datetime)."""
    if not db["help_calls"].exists():
        return []
    return [{**row, "called_at": datetime.fromisoformat(row["called_at"])}
            for row in db.query("SELECT * FROM help_calls WHERE answered_at IS NULL ORDER BY id")]




def answer(db: sqlite_utils.Database, call_id: int, actor: str) -> bool:
    """A clerk goes to the kiosk. False when the call was already answered (or never was)."""
    with write(db):
        cur = db.execute("UPDATE help_calls SET answered_at = ?, answered_by = ? WHERE id = ? AND answered_at IS NULL",
                         [iso(utcnow()), actor, call_id])
    return cur.rowcount == 1
