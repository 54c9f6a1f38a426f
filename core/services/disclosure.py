"""Exchange-log entries for what a clerk or a kiosk shows, prints or hands over, and a person's log.

A person is named in the log by `subject_ref` (a keyed hash of name and birth date). Their
log is every entry with that ref plus every entry about an application in which they appear
(as the applicant or a household member), so entries written without a ref are found too.
"""
from __future__ import annotations

from typing import Any

import sqlite_utils

from core import exchange_log as xlog
from core.application import Application
from core.exchange_view import detail
from core.store.applications import ApplicationStore
from core.store.db import write


def log_disclosure(db: sqlite_utils.Database, config, *, actor: str, purpose: str, app: Application | None,
                   payload: Any, counterparty: str = "madoguchi", result: str = "ok",
                   person: xlog.Person | None = None) -> dict[str, Any]:
    """Log what a clerk saw, printed or handed over: about `person`, or else the application's
    applicant; a payload of values names its fields (names only) in the entry."""
    return xlog.append(db, config, actor=actor, counterparty=counterparty, purpose=purpose,
                       application_id=app.id if app else None, payload=payload, result=result,
                       person=person or (xlog.Person.of(app.data) if app else None),
                       fields=sorted(payload) if isinstance(payload, dict) else None)


def person_log(db: sqlite_utils.Database, config, name: str, birth_date: str) -> list[dict[str, Any]]:
    """The person's entries, found by their name as typed (or its kana reading) and as each
    matching application wrote it (高崎 typed, 髙﨑 stored: both names' entries)."""
    found = ApplicationStore(db).people_named(name, birth_date)
    names = dict.fromkeys([name, *(stored for _id, stored in found)])
    return xlog.entries_about(db, config, [xlog.Person(n, birth_date) for n in names],
                              dict.fromkeys(app_id for app_id, _name in found))


def with_procedures(db: sqlite_utils.Database, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each entry with `procedures`: its application's procedure ids (core.exchange_view's 事務手続)."""
    found = ApplicationStore(db).procedures_of({e["application_id"] for e in entries if e.get("application_id")})
    return [{**e, "procedures": found.get(e.get("application_id") or "", [])} for e in entries]


def disclose_own_log(db: sqlite_utils.Database, config, *, actor: str, name: str,
                     birth_date: str) -> list[dict[str, Any]]:
    """A person's own log, asked for by them (their card was just read at a kiosk): their entries as
    `core.exchange_view.detail` dicts, oldest first, the last one this disclosure itself (purpose
    `disclosure`, counterparty `actor`: the screen it is shown on), written in the same transaction."""
    with write(db):
        shown = [detail(e) for e in with_procedures(db, person_log(db, config, name, birth_date))]
        entry = xlog.append(db, config, actor=actor, counterparty=actor, purpose="disclosure", application_id=None,
                            payload=shown, person=xlog.Person(name, birth_date))
    return [*shown, detail(entry)]


def log_reported_log_print(db: sqlite_utils.Database, config, *, kiosk_id: str, name: str, birth_date: str,
                           counterparty: str, at: str, payload_sha256: str, result: str) -> dict[str, Any]:
    """A kiosk PC printed a person's own log: the office's chain gets its `log_print` entry (the
    kiosk's own entry, re-told as an upload's exchanges are: its time and the PDF's digest as payload)."""
    return xlog.append(db, config, actor=f"kiosk:{kiosk_id}", counterparty=counterparty, purpose="log_print",
                       application_id=None, result=result, person=xlog.Person(name, birth_date),
                       payload={"reported_by": kiosk_id, "at": at, "payload_sha256": payload_sha256})
