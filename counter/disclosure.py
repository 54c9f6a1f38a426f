"""Exchange-log entries for what clerks see and print, and a person's log (no Flask here).

A person is named in the log by `subject_ref` (a keyed hash of name and birth date). Their
log is every entry with that ref plus every entry about an application in which they appear
(as the applicant or a household member), so entries written without a ref are found too.
"""
from __future__ import annotations

from typing import Any

import sqlite_utils

from core import exchange_log as xlog
from core.application import Application
from core.store.applications import ApplicationStore


def log_disclosure(db: sqlite_utils.Database, config, *, actor: str, purpose: str, app: Application | None,
                   payload: Any, counterparty: str = "madoguchi", result: str = "ok",
                   person: xlog.Person | None = None) -> dict[str, Any]:
    """Log what a clerk saw, printed or handed over: about `person`, or else the application's applicant."""
    return xlog.append(db, config, actor=actor, counterparty=counterparty, purpose=purpose,
                       application_id=app.id if app else None, payload=payload, result=result,
                       person=person or (xlog.Person.of(app.data) if app else None))


def person_log(db: sqlite_utils.Database, config, name: str, birth_date: str) -> list[dict[str, Any]]:
    app_ids = ApplicationStore(db).ids_naming_person(name, birth_date)
    return xlog.entries_about(db, config, xlog.Person(name, birth_date), app_ids)
