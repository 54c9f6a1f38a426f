"""Tables `applications` and `application_events` (the audit trail). All writes go through here."""
from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core import progress
from core.application import Application, Event, State, iso
from core.errors import MadoguchiError, NotFound
from core.name_search import is_kana_reading, name_key
from core.store.db import engine_of, json_list, write

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


@migrations()
def m002_purged_at(db: sqlite_utils.Database) -> None:
    """When `purge_personal` deleted the application's personal data (NULL: never)."""
    db.table("applications").add_column("purged_at", str)


# Audit events whose values stay after a purge: a state's name and a print's queue and job
# (the figures count them); every other kind's values and every reason (typed by a clerk) go.
_EVENT_KINDS_WITHOUT_PERSONAL_VALUES = ("state", "printed")
_FINISHED_STATES = (str(State.FORWARDED), str(State.REJECTED), str(State.CANCELLED))


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
                # ON CONFLICT, not a caught error: PostgreSQL's transaction would be unusable after one.
                cur = self.db.execute(
                    "INSERT INTO applications (id, state, procedures, data, sources, channel, reception_number,"
                    " created_at, updated_at, version) VALUES (:id, :state, :procedures, :data, :sources,"
                    " :channel, :reception_number, :created_at, :updated_at, :version)"
                    " ON CONFLICT (id) DO NOTHING", row)
                if cur.rowcount != 1:
                    raise AlreadyStored("an application with this id is stored already")
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
            # The resident's status page learns each state change in this same transaction.
            progress.record_changes(self.db, app, app.pending_events)
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

    def import_rows(self, applications: builtins.list[tuple], events: builtins.list[tuple]) -> None:
        """Bulk-load rows made elsewhere, as they are (a benchmark's year of visits; a migration from
        another system): `applications` as (id, state, procedures JSON, data JSON, sources JSON,
        channel, reception_number, created_at, updated_at, version), `events` as (application_id, at,
        actor, kind, field, old, new, reason). Nothing is checked and no event is added."""
        with write(self.db):
            self.db.conn.executemany(
                "INSERT INTO applications (id, state, procedures, data, sources, channel, reception_number,"
                " created_at, updated_at, version) VALUES (?,?,?,?,?,?,?,?,?,?)", applications)
            self.db.conn.executemany(
                "INSERT INTO application_events (application_id, at, actor, kind, field, old, new, reason)"
                " VALUES (?,?,?,?,?,?,?,?)", events)

    def count(self) -> int:
        return self.db["applications"].count

    # -- many applications at once (the counter's queue, figures and person search)

    def count_by_state(self, start: datetime, end: datetime) -> dict[str, int]:
        """How many applications created in [start, end) are in each state."""
        return {r["state"]: r["n"] for r in self.db.query(
            "SELECT state, COUNT(*) AS n FROM applications WHERE created_at >= ? AND created_at < ? GROUP BY state",
            [iso(start), iso(end)])}

    def reception_numbers(self, application_ids: Iterable[str]) -> dict[str, str | None]:
        """{application id: reception number} for those of `application_ids` that exist."""
        return {r["id"]: r["reception_number"] for r in self.db.query(
            f"SELECT id, reception_number FROM applications WHERE id IN (SELECT value FROM {json_list(self.db)})",
            [json.dumps(list(application_ids))])}

    def procedures_of(self, application_ids: Iterable[str]) -> dict[str, builtins.list[str]]:
        """{application id: its procedure ids} for those of `application_ids` that exist."""
        return {r["id"]: json.loads(r["procedures"] or "[]") for r in self.db.query(
            f"SELECT id, procedures FROM applications WHERE id IN (SELECT value FROM {json_list(self.db)})",
            [json.dumps(list(application_ids))])}

    def summaries_between(self, start: datetime, end: datetime, states: Iterable[str] | None = None,
                          procedure: str | None = None,
                          reception_number: str | None = None) -> builtins.list[dict[str, Any]]:
        """Applications created in [start, end) without their data, oldest first, each with
        the times of its audit milestones (printed_at, last_printed_at, confirmed_at,
        closed_at; decided_at: its last confirmation or rejection), its count of clerks'
        corrections, whether it was rejected, the event ids of its first correction and last
        print, the office it was made in (None when not recorded) and from_prereg (made from a
        pre-registration: a value came from the QR). Raw column values (JSON, ISO times)."""
        sql, params = _SUMMARY_SQL[engine_of(self.db)], [iso(start), iso(end)]
        states = list(states or [])
        if states:
            sql += f" AND a.state IN ({','.join('?' * len(states))})"
            params += states
        if procedure:
            sql += f" AND EXISTS (SELECT 1 FROM {json_list(self.db, 'a.procedures')} WHERE value = ?)"
            params.append(procedure)
        if reception_number:
            sql += " AND a.reception_number = ?"
            params.append(reception_number)
        return list(self.db.query(sql + " GROUP BY a.id ORDER BY a.created_at", params))

    def last_event_id(self) -> int:
        """The id of the newest audit event (0 when none): every change to an application adds one."""
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM application_events").fetchone()[0]

    def created_at_of_changed_since(self, event_id: int) -> set[datetime]:
        """When each application with an audit event newer than `event_id` was created."""
        return {datetime.fromisoformat(r[0]) for r in self.db.execute(
            "SELECT DISTINCT a.created_at FROM application_events e JOIN applications a ON a.id = e.application_id"
            " WHERE e.id > ?", [event_id])}

    def created_at_of(self, application_ids: Iterable[str]) -> set[datetime]:
        """When each of `application_ids` that exists was created."""
        return {datetime.fromisoformat(r[0]) for r in self.db.execute(
            f"SELECT DISTINCT created_at FROM applications WHERE id IN (SELECT value FROM {json_list(self.db)})",
            [json.dumps(list(application_ids))])}

    def clerk_corrections_between(self, start: datetime, end: datetime) -> builtins.list[tuple[str, str]]:
        """(application id, field) of every field a clerk changed, for applications created in
        [start, end), in the order they were changed."""
        return [tuple(r) for r in self.db.execute(
            _CLERK_CORRECTIONS_SQL[engine_of(self.db)], [iso(start), iso(end)])]

    def finished_before(self, cutoff: datetime) -> builtins.list[str]:
        """Ids of applications forwarded, rejected or cancelled before `cutoff` (their last
        change) whose personal data is still kept, oldest first."""
        return [r["id"] for r in self.db.query(
            "SELECT id FROM applications WHERE purged_at IS NULL AND updated_at < ?"
            f" AND state IN (SELECT value FROM {json_list(self.db)}) ORDER BY updated_at",
            [iso(cutoff), json.dumps(_FINISHED_STATES)])]

    def purge_personal(self, application_ids: Iterable[str], at: datetime, actor: str) -> int:
        """Delete the personal data of these applications: their values (`data`, `sources`), the
        values and reasons of their audit events (but a state's name, a print's job and "reprint"); kept are the state,
        times, procedures, channel, reception number, the events' kinds, times, actors and field
        names (what the figures count), and an event `purged`. Returns how many."""
        ids = json.dumps(list(application_ids))
        with write(self.db):
            n = self.db.execute(
                "UPDATE applications SET data = '{}', sources = '{}', purged_at = ?"
                f" WHERE purged_at IS NULL AND id IN (SELECT value FROM {json_list(self.db)})", [iso(at), ids]).rowcount
            self.db.execute(
                "UPDATE application_events"
                " SET reason = CASE WHEN kind = 'printed' AND reason = 'reprint' THEN reason END,"
                f" old = CASE WHEN kind IN (SELECT value FROM {json_list(self.db, ':keep')}) THEN old END,"
                f" new = CASE WHEN kind IN (SELECT value FROM {json_list(self.db, ':keep')}) THEN new END"
                f" WHERE application_id IN (SELECT value FROM {json_list(self.db, ':ids')})",
                {"keep": json.dumps(_EVENT_KINDS_WITHOUT_PERSONAL_VALUES), "ids": ids})
            self.db.execute(
                "INSERT INTO application_events (application_id, at, actor, kind) SELECT id, ?, ?, 'purged'"
                f" FROM applications WHERE purged_at = ? AND id IN (SELECT value FROM {json_list(self.db)})",
                [iso(at), actor, iso(at), ids])
        return n

    def ids_naming_person(self, name: str, birth_date: str) -> builtins.list[str]:
        """Ids of applications naming this person as the applicant or a household member,
        oldest first (`people_named`)."""
        return list(dict.fromkeys(app_id for app_id, _name in self.people_named(name, birth_date)))

    def people_named(self, name: str, birth_date: str) -> builtins.list[tuple[str, str]]:
        """(application id, the name as stored) of every applicant or household member born on
        `birth_date` whose name matches `name` as core.name_search compares names (variant
        characters folded: 高崎 finds 髙﨑; spaces ignored), or whose kana reading matches when
        `name` is kana only. Oldest application first."""
        want = name_key(name)
        by_reading = is_kana_reading(name)
        found = []
        rows = self.db.query(_PEOPLE_BORN_ON_SQL[engine_of(self.db)], [birth_date, birth_date])
        for r in rows:
            people = [r] if r["birth_date"] == birth_date else []
            people += [m for m in json.loads(r["household"] or "[]")
                       if isinstance(m, dict) and m.get("birth_date") == birth_date]
            for person in people:
                stored = person.get("name") if isinstance(person.get("name"), str) else None
                keys = {name_key(stored)} if stored else set()
                if by_reading and isinstance(person.get("kana"), str):
                    keys.add(name_key(person["kana"]))
                if stored and want and want in keys:
                    found.append((r["id"], stored))
        return found


_PRINT = "((e.kind = 'state' AND e.new = '\"printed\"') OR e.kind = 'printed')"
# One pass over the day's applications and their audit events (index on application_id),
# no values decoded: a busy office's day or month stays quick. INDEXED BY: without it the
# GROUP BY makes SQLite walk every application ever made in id order to find one day's
# (PostgreSQL's planner finds the index itself). The sums are cast so both engines give integers.
_SUMMARY_TEMPLATE = """
SELECT a.id, a.state, a.procedures, a.channel, a.reception_number, a.created_at, a.updated_at,
  MIN(CASE WHEN {print} THEN e.at END) AS printed_at,
  MAX(CASE WHEN {print} THEN e.at END) AS last_printed_at,
  MIN(CASE WHEN e.kind = 'state' AND e.new = '"confirmed"' THEN e.at END) AS confirmed_at,
  MIN(CASE WHEN e.kind = 'state' AND e.new IN ('"confirmed"', '"rejected"', '"cancelled"') THEN e.at END) AS closed_at,
  CAST(SUM(CASE WHEN e.kind = 'field' AND e.actor LIKE 'clerk:%' THEN 1 ELSE 0 END) AS INTEGER) AS corrections,
  MAX(CASE WHEN e.kind = 'state' AND e.new IN ('"confirmed"', '"rejected"') THEN e.at END) AS decided_at,
  MAX(CASE WHEN e.kind = 'state' AND e.new = '"rejected"' THEN 1 ELSE 0 END) AS rejected,
  MIN(CASE WHEN e.kind = 'field' AND e.actor LIKE 'clerk:%' THEN e.id END) AS first_correction_event,
  MAX(CASE WHEN {print} THEN e.id END) AS last_print_event,
  MAX(CASE WHEN e.kind = 'created' THEN {office} END) AS office,
  CASE WHEN a.channel = 'prereg' OR {has_qr} THEN 1 ELSE 0 END AS from_prereg
FROM applications a {index}
  LEFT JOIN application_events e ON e.application_id = a.id
WHERE a.created_at >= ? AND a.created_at < ?"""
_SUMMARY_SQL = {
    "sqlite": _SUMMARY_TEMPLATE.format(print=_PRINT, office="json_extract(e.new, '$.office')",
                                       has_qr="instr(a.sources, '\"qr\"') > 0",
                                       index="INDEXED BY idx_applications_created_at"),
    "postgresql": _SUMMARY_TEMPLATE.format(print=_PRINT, office="CAST(e.new AS json) ->> 'office'",
                                           has_qr="strpos(a.sources, '\"qr\"') > 0", index=""),
}

# CROSS JOIN: the day's applications first (index on created_at), then their events; else SQLite
# walks every event ever made. PostgreSQL plans the join itself (and its CROSS JOIN takes no ON).
_CLERK_CORRECTIONS_SQL = {
    engine: f"SELECT e.application_id, e.field FROM applications a {join} application_events e"
            " ON e.application_id = a.id"
            " WHERE a.created_at >= ? AND a.created_at < ? AND e.kind = 'field' AND e.actor LIKE 'clerk:%'"
            " ORDER BY e.id"
    for engine, join in (("sqlite", "INDEXED BY idx_applications_created_at CROSS JOIN"), ("postgresql", "JOIN"))}

# The applications with an applicant or household member born on a day (both parameters: the
# day), with the values people_named compares. A household that is not a list names nobody.
_PEOPLE_BORN_ON_SQL = {
    "sqlite": "SELECT id, json_extract(data, '$.name') AS name, json_extract(data, '$.kana') AS kana,"
              " json_extract(data, '$.birth_date') AS birth_date, json_extract(data, '$.household') AS household"
              " FROM applications WHERE json_extract(data, '$.birth_date') = ? OR EXISTS ("
              "  SELECT 1 FROM json_each(applications.data, '$.household') m"
              "  WHERE json_extract(m.value, '$.birth_date') = ?) ORDER BY created_at",
    "postgresql": "SELECT id, d ->> 'name' AS name, d ->> 'kana' AS kana, d ->> 'birth_date' AS birth_date,"
                  " d ->> 'household' AS household"
                  " FROM applications CROSS JOIN LATERAL (SELECT CAST(data AS jsonb) AS d) j"
                  " WHERE d ->> 'birth_date' = ? OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN"
                  "  jsonb_typeof(d -> 'household') = 'array' THEN d -> 'household' ELSE '[]' END) m"
                  "  WHERE jsonb_typeof(m) = 'object' AND m ->> 'birth_date' = ?) ORDER BY created_at",
}
