"""The administrators' log: changes to how the office works (a form layout saved, a blank form
imported), who made them and when, and the SHA-256 of the file before and after — never a
person's data, never the file itself (the site folder keeps the previous file as `.bak`)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.store.db import write

migrations = Migrations("core.admin_log")
ACTIONS = ("layout_saved", "background_imported")


@migrations()
def m001_admin_log(db: sqlite_utils.Database) -> None:
    db.table("admin_log").create(
        {"seq": int, "at": str, "actor": str, "action": str, "target": str, "before_sha256": str,
         "after_sha256": str},
        pk="seq", not_null={"at", "actor", "action", "target"},
    )


def append(db: sqlite_utils.Database, *, actor: str, action: str, target: str, before_sha256: str = "",
           after_sha256: str = "") -> dict[str, Any]:
    """One entry: `actor` is the clerk's audit name, `target` what changed (a layout's procedure id)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown admin action {action}")
    entry: dict[str, Any] = {"at": iso(utcnow()), "actor": actor, "action": action, "target": target,
             "before_sha256": before_sha256, "after_sha256": after_sha256}
    with write(db):
        cur = db.execute("INSERT INTO admin_log (at, actor, action, target, before_sha256, after_sha256) "
                         "VALUES (?, ?, ?, ?, ?, ?)", list(entry.values()))
        entry["seq"] = cur.lastrowid
    return entry


def entries(db: sqlite_utils.Database, target: str | None = None, limit: int = 50) -> Iterator[dict[str, Any]]:
    """The newest entries first (of one target when given)."""
    sql, params = "SELECT * FROM admin_log", []
    if target is not None:
        sql, params = sql + " WHERE target = ?", [target]
    yield from db.query(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit])
