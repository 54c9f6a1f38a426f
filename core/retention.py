"""Deleting personal data the city no longer keeps (`madoguchi purge-personal`).

An application forwarded, rejected or cancelled more than [retention].personal_data_days ago
loses its values (core.store.applications.ApplicationStore.purge_personal) and its delivered
record's values (core.outbox.purge_personal), in one transaction. What the law and the plan
need stays: the exchange log (its entries hold hashes, never values, and still verify), and
each application's state, times, procedures and channel, which the figures count.
`madoguchi serve` runs it every [retention].purge_interval_minutes on the office server (the
counter surface) once the days are set. Expired pre-registrations and drafts are `madoguchi
purge`'s (core.sealed, prereg.drafts).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from core import outbox
from core.application import utcnow
from core.errors import MadoguchiError
from core.store.applications import ApplicationStore
from core.store.db import open_from_config, write

ACTOR = "system:retention"


class RetentionNotSet(MadoguchiError):
    code = "retention_not_set"


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    applications: int
    records: int
    dry_run: bool


def purge_personal(db: sqlite_utils.Database, config, *, days: int | None = None, dry_run: bool = False,
                   now: datetime | None = None) -> PurgeReport:
    """Purge (or with `dry_run` only count) the personal data of applications finished more
    than `days` (default [retention].personal_data_days) ago."""
    days = config.retention.personal_data_days if days is None else days
    if days <= 0:
        raise RetentionNotSet("[retention].personal_data_days is not set (0): set the days the city keeps the"
                              " personal data of finished applications; nothing was purged")
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    store = ApplicationStore(db)
    if dry_run:
        return PurgeReport(cutoff, len(store.finished_before(cutoff)), 0, True)
    with write(db):
        ids = store.finished_before(cutoff)
        records = outbox.purge_personal(db, ids)
        applications = store.purge_personal(ids, now, ACTOR)
    return PurgeReport(cutoff, applications, records, False)


def purge_interval_seconds(config) -> float:
    """How often `madoguchi serve` purges: [retention].purge_interval_minutes, at least a minute."""
    return max(60.0, config.retention.purge_interval_minutes * 60.0)


def purge_on_schedule(config) -> str | None:
    """The office server's timer (counter.blueprint): purge once [retention].personal_data_days
    is set, else nothing. Returns a line for the log (counts only), or None."""
    if config.retention.personal_data_days <= 0:
        return None
    db = open_from_config(config)
    try:
        report = purge_personal(db, config)
    finally:
        db.conn.close()
    if report.applications:
        return f"purged the personal data of {report.applications} finished applications"
    return None
