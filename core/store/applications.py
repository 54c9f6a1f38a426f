"""Tables `applications` and `application_events` (the audit trail). All writes go through here."""
from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import Application, Event, State, iso
from core.errors import MadoguchiError, NotFound
from core.store.db import write

migrations = Migrations("core.store.applications")


@migrations()
def m001_applications(db: sqlite_utils.Database) -> None:
    db.table("applications").create(
        {
            "id": str, "state": str, "procedures": str, "data": str, "sources": str,
            "channel": str, "reception_number": str, "created_at": str, "updated_at": str,
            "version": int,
        },
        pk="id",
    )
    db.table("applications").create_index(["state"])
    db.table("applications").create_index(["created_at"])
    db.table("application_events").create(
        {
            "id": int, "application_id": str, "at": str, "actor": str, "kind": str,
            "field": str, "old": str, "new": str, "reason": str,
        },
        pk="id",
        foreign_keys=[("application_id", "applications", "id")],
    )
    db.table("application_events").create_index(["application_id"])


class ConcurrentUpdate(MadoguchiError):
    code = "concurrent_update"


class AlreadyStored(MadoguchiError):
    """A new application whose id is stored already: one pre-registration opened at two places
    (two kiosks, or a kiosk and the counter) and made an application at both."""

    code = "already_stored"


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _row_to_app(row: dict) -> Application:
    return Application(
        id=row["id"], procedures=json.loads(row["procedures"]), data=json.loads(row["data"]),
        sources=json.loads(row["sources"]), state=State(row["state"]), channel=row["channel"],
        reception_number=row["reception_number"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]), version=row["version"],
    )


class ApplicationStore:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def save(self, app: Application) -> Application:
        """Insert or update the record and append its pending events, in one transaction.

        Optimistic locking: a record changed by someone else since it was read is refused,
        so two clerks never silently overwrite each other. Call inside `write(db)` to add
        more changes (e.g. an outbox row) to the same transaction.
        """
        row = {
            "id": app.id, "state": str(app.state), "procedures": _dump(app.procedures),
            "data": _dump(app.data), "sources": _dump(app.sources), "channel": app.channel,
            "reception_number": app.reception_number, "created_at": iso(app.created_at),
            "updated_at": iso(app.updated_at), "version": app.version + 1,
        }
        with write(self.db):
            if app.version == 0:
                try:
                    self.db.execute(
                        "INSERT INTO applications (id, state, procedures, data, sources, channel, reception_number,"
                        " created_at, updated_at, version) VALUES (:id, :state, :procedures, :data, :sources,"
                        " :channel, :reception_number, :created_at, :updated_at, :version)", row)
                except sqlite3.IntegrityError:
                    if self.find(app.id) is None:
                        raise
                    raise AlreadyStored("an application with this id is stored already") from None
            else:
                cur = self.db.execute(
                    "UPDATE applications SET state=:state, procedures=:procedures, data=:data, sources=:sources,"
                    " channel=:channel, reception_number=:reception_number, updated_at=:updated_at,"
                    " version=:version WHERE id=:id AND version=:version - 1", row)
                if cur.rowcount != 1:
                    raise ConcurrentUpdate("the application was changed by someone else; reload it")
            for ev in app.pending_events:
                cur = self.db.execute(
                    "INSERT INTO application_events (application_id, at, actor, kind, field, old, new, reason)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [ev.application_id, iso(ev.at), ev.actor, ev.kind, ev.field, _dump(ev.old), _dump(ev.new),
                     ev.reason],
                )
                ev.id = cur.lastrowid
        app.version += 1
        app.pending_events.clear()
        return app

    def get(self, application_id: str) -> Application:
        rows = list(self.db.query("SELECT * FROM applications WHERE id = ?", [application_id]))
        if not rows:
            raise NotFound("no such application", code="application_not_found")
        return _row_to_app(rows[0])

    def find(self, application_id: str) -> Application | None:
        try:
            return self.get(application_id)
        except NotFound:
            return None

    def list(self, states: Iterable[str] | None = None, since: datetime | None = None,
             limit: int = 500) -> list[Application]:
        sql = "SELECT * FROM applications WHERE 1=1"
        params: list[str | int] = []
        if states:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += states
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(iso(since))
        sql += " ORDER BY created_at DESC LIMIT ?"
        params.append(limit)
        return [_row_to_app(r) for r in self.db.query(sql, params)]

    def events(self, application_id: str) -> builtins.list[Event]:  # `list` in this class is the method above
        out = []
        for r in self.db.query("SELECT * FROM application_events WHERE application_id = ? ORDER BY id",
                               [application_id]):
            out.append(Event(
                application_id=r["application_id"], at=datetime.fromisoformat(r["at"]), actor=r["actor"],
                kind=r["kind"], field=r["field"], old=None if r["old"] is None else json.loads(r["old"]),
                new=None if r["new"] is None else json.loads(r["new"]), reason=r["reason"], id=r["id"],
            ))
        return out

    def count(self) -> int:
        return self.db["applications"].count
