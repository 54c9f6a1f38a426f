"""Exchange-log entries for what clerks see and print, and a person's log (no Flask here).

A person is named in the log by `subject_ref` (a keyed hash of name and birth date). Their
log is every entry with that ref plus every entry about an application in which they appear
(as the applicant or a household member), so entries written without a ref are found too.
"""
from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from core import exchange_log as xlog
from core.application import Application
from core.keys import subject_key


def _norm_name(name: str | None) -> str:
    return "".join((name or "").split())


def person_ref(config, name: str | None, birth_date: str | None) -> str | None:
    if not name or not birth_date:
        return None
    return xlog.subject_ref(subject_key(config), name, birth_date)


def applicant_ref(config, app: Application) -> str | None:
    return person_ref(config, app.data.get("name"), app.data.get("birth_date"))


def log_disclosure(db: sqlite_utils.Database, config, *, actor: str, purpose: str, app: Application | None,
                   payload: Any, counterparty: str = "madoguchi", result: str = "ok",
                   subject: str | None = None) -> dict[str, Any]:
    return xlog.append(db, actor=actor, counterparty=counterparty, purpose=purpose,
                       application_id=app.id if app else None, payload=payload, result=result,
                       subject=subject or (applicant_ref(config, app) if app else None))


def applications_of_person(db: sqlite_utils.Database, name: str, birth_date: str) -> list[str]:
    """Ids of applications naming this person as applicant or household member."""
    want = _norm_name(name)
    ids = []
    rows = db.query(
        "SELECT id, json_extract(data, '$.name') AS name, json_extract(data, '$.household') AS household"
        " FROM applications WHERE json_extract(data, '$.birth_date') = ? OR EXISTS ("
        "  SELECT 1 FROM json_each(applications.data, '$.household') m"
        "  WHERE json_extract(m.value, '$.birth_date') = ?) ORDER BY created_at", [birth_date, birth_date])
    for r in rows:
        if _norm_name(r["name"]) == want:
            ids.append(r["id"])
            continue
        for member in json.loads(r["household"] or "[]"):
            if member.get("birth_date") == birth_date and _norm_name(member.get("name")) == want:
                ids.append(r["id"])
                break
    return ids


def person_log(db: sqlite_utils.Database, config, name: str, birth_date: str) -> list[dict[str, Any]]:
    ref = person_ref(config, name, birth_date)
    app_ids = applications_of_person(db, name, birth_date)
    params: list[Any] = [ref]
    sql = "SELECT * FROM exchange_log WHERE subject_ref = ?"
    if app_ids:
        sql += f" OR application_id IN ({','.join('?' * len(app_ids))})"
        params += app_ids
    return list(db.query(sql + " ORDER BY seq", params))
