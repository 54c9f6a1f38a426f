"""What the clerk screens derive from an application and its audit trail (no Flask here).

Times come from the audit trail: `created`, the first print (the visitor then waits with the
printed form), the first `clerk_view` in the exchange log (the form was scanned or opened at
the counter) and the `confirmed` state change.
"""
from __future__ import annotations

import copy
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable

import sqlite_utils

from core.application import FORM_CODE_PREFIX, Application, Event, State, is_application_id, iso, utcnow
from core.store.applications import _row_to_app

OPEN_STATES = (State.DRAFT, State.SUBMITTED, State.PRINTED)
CLOSED_STATES = (State.CONFIRMED, State.FORWARDED, State.REJECTED, State.CANCELLED)


def local_tz():
    """The office's time zone: the server's local zone (a city hall's PC runs on JST)."""
    return datetime.now().astimezone().tzinfo


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = local_tz()
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, start + timedelta(days=1)


def today() -> date:
    return datetime.now(local_tz()).date()


# --- reading a scanned or typed code ------------------------------------------------------

_PREFIX = FORM_CODE_PREFIX.rstrip(":")
# A USB scanner set to a US layout on a JIS keyboard types ':' as '+' (or '*'); IMEs make
# everything full width (NFKC undoes that). Hand-typed ids mix up O/0 and I/L/1.
_FORM_CODE_RE = re.compile(rf"^{_PREFIX}[:+*;]([0-9A-Z]{{16}})$")
_PREREG_RE = re.compile(r"^(MDGP\d+)[:+*;]([0-9A-Z]+)$")
_CROCKFORD_FIX = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def read_code(text: str) -> tuple[str | None, str]:
    """Classify what the scanner (or a clerk) typed: ("form", application id),
    ("prereg", token text) or (None, "") when it is neither."""
    s = unicodedata.normalize("NFKC", text or "")
    s = "".join(ch for ch in s if not unicodedata.category(ch).startswith("C")).strip()
    if not s:
        return None, ""
    compact = re.sub(r"\s+", "", s).upper()
    m = _FORM_CODE_RE.match(compact)
    if m:
        candidate = m.group(1).translate(_CROCKFORD_FIX)
        return ("form", candidate) if is_application_id(candidate) else (None, "")
    bare = compact.replace("-", "").translate(_CROCKFORD_FIX)
    if is_application_id(bare):
        return "form", bare
    m = _PREREG_RE.match(compact)
    if m:  # the resident's pre-registration QR (core.tokens): the same fixes for the separator
        return "prereg", f"{m.group(1)}:{m.group(2)}"
    if len(s) >= 24:
        return "prereg", s
    return None, ""


# --- the audit trail ----------------------------------------------------------------------

def is_print_event(ev: Event) -> bool:
    return ev.kind == "printed" or (ev.kind == "state" and ev.new == str(State.PRINTED))


def is_correction(ev: Event) -> bool:
    return ev.kind == "field" and (ev.actor or "").startswith("clerk:")


def values_as_printed(app: Application, events: list[Event]) -> dict[str, Any] | None:
    """The values on the last printed form: the current values with every field change
    made after the last print undone. None when the form was never printed."""
    last = max((i for i, ev in enumerate(events) if is_print_event(ev)), default=None)
    if last is None:
        return None
    data = copy.deepcopy(app.data)
    for ev in reversed(events[last + 1:]):
        if ev.kind != "field" or not ev.field:
            continue
        if ev.old is None:
            data.pop(ev.field, None)
        else:
            data[ev.field] = copy.deepcopy(ev.old)
    return data


def changed_since_print(app: Application, events: list[Event]) -> set[str] | None:
    printed = values_as_printed(app, events)
    if printed is None:
        return None
    return {k for k in set(printed) | set(app.data) if printed.get(k) != app.data.get(k)}


@dataclass
class Timeline:
    created_at: datetime
    printed_at: datetime | None = None        # first print
    last_printed_at: datetime | None = None
    first_view_at: datetime | None = None     # first clerk_view (scan at the counter)
    confirmed_at: datetime | None = None
    closed_at: datetime | None = None         # confirmed, rejected or cancelled
    corrections: int = 0

    @property
    def waiting_since(self) -> datetime:
        return self.printed_at or self.created_at

    def waited(self, now: datetime | None = None) -> timedelta | None:
        """From print (or creation) until a clerk first opened it; still counting when none has."""
        end = self.first_view_at or self.closed_at or (now or utcnow())
        return max(end - self.waiting_since, timedelta(0))

    @property
    def scan_to_confirm(self) -> timedelta | None:
        if self.first_view_at and self.confirmed_at:
            return max(self.confirmed_at - self.first_view_at, timedelta(0))
        return None


def timeline(events: Iterable[Event], first_view_at: datetime | None) -> Timeline:
    events = list(events)
    tl = Timeline(created_at=events[0].at if events else utcnow(), first_view_at=first_view_at)
    for ev in events:
        if ev.kind == "created":
            tl.created_at = min(tl.created_at, ev.at)
        if is_print_event(ev):
            tl.printed_at = tl.printed_at or ev.at
            tl.last_printed_at = ev.at
        if ev.kind == "state" and ev.new == str(State.CONFIRMED):
            tl.confirmed_at = ev.at
        if ev.kind == "state" and ev.new in (str(State.CONFIRMED), str(State.REJECTED), str(State.CANCELLED)):
            tl.closed_at = tl.closed_at or ev.at
        if is_correction(ev):
            tl.corrections += 1
    return tl


def first_views(db: sqlite_utils.Database, application_ids: list[str]) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for chunk in _chunks(application_ids, 500):
        for r in db.query(
                "SELECT application_id, MIN(at) AS at FROM exchange_log WHERE purpose = 'clerk_view'"
                f" AND application_id IN ({','.join('?' * len(chunk))}) GROUP BY application_id", chunk):
            out[r["application_id"]] = datetime.fromisoformat(r["at"])
    return out


def events_by_application(db: sqlite_utils.Database, application_ids: list[str],
                          kinds: tuple[str, ...] = ("created", "state", "printed", "field")) -> dict[str, list[Event]]:
    """Audit events of many applications in one query per 500 (the queue and figures need them)."""
    import json
    out: dict[str, list[Event]] = {a: [] for a in application_ids}
    for chunk in _chunks(application_ids, 500):
        rows = db.query(
            "SELECT * FROM application_events WHERE application_id IN"
            f" ({','.join('?' * len(chunk))}) AND kind IN ({','.join('?' * len(kinds))}) ORDER BY id",
            [*chunk, *kinds])
        for r in rows:
            out[r["application_id"]].append(Event(
                application_id=r["application_id"], at=datetime.fromisoformat(r["at"]), actor=r["actor"],
                kind=r["kind"], field=r["field"],
                # Field values are not needed here, only which field changed: skip decoding them.
                old=None if r["kind"] == "field" or r["old"] is None else json.loads(r["old"]),
                new=None if r["kind"] == "field" or r["new"] is None else json.loads(r["new"]),
                reason=r["reason"], id=r["id"]))
    return out


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]


# --- today's queue ------------------------------------------------------------------------

@dataclass
class QueueRow:
    app: Application
    timeline: Timeline

    @property
    def is_open(self) -> bool:
        return self.app.state in OPEN_STATES


def applications_between(db: sqlite_utils.Database, start: datetime, end: datetime,
                         states: Iterable[str] | None = None, procedure: str | None = None,
                         reception_number: str | None = None, limit: int = 2000) -> list[Application]:
    sql = "SELECT * FROM applications WHERE created_at >= ? AND created_at < ?"
    params: list[Any] = [iso(start), iso(end)]
    states = list(states or [])
    if states:
        sql += f" AND state IN ({','.join('?' * len(states))})"
        params += states
    if procedure:
        sql += " AND EXISTS (SELECT 1 FROM json_each(applications.procedures) WHERE value = ?)"
        params.append(procedure)
    if reception_number:
        sql += " AND reception_number = ?"
        params.append(reception_number)
    sql += " ORDER BY created_at LIMIT ?"
    params.append(limit)
    return [_row_to_app(r) for r in db.query(sql, params)]


def queue(db: sqlite_utils.Database, day: date, states: Iterable[str] | None = None, procedure: str | None = None,
          reception_number: str | None = None, now: datetime | None = None) -> list[QueueRow]:
    """The day's applications: those still open first, longest waiting first; then the closed ones."""
    now = now or utcnow()
    start, end = local_day_bounds(day)
    apps = applications_between(db, start, end, states, procedure, reception_number)
    ids = [a.id for a in apps]
    events = events_by_application(db, ids, kinds=("created", "state", "printed", "field"))
    views = first_views(db, ids)
    rows = [QueueRow(a, timeline(events[a.id], views.get(a.id))) for a in apps]
    open_rows = sorted((r for r in rows if r.is_open), key=lambda r: r.timeline.waiting_since)
    closed = sorted((r for r in rows if not r.is_open), key=lambda r: r.app.updated_at, reverse=True)
    return open_rows + closed


def outbox_state(db: sqlite_utils.Database, application_id: str) -> dict[str, Any] | None:
    """The latest outbox row of an application (what the forwarding worker did with it)."""
    rows = list(db.query("SELECT id, state, attempts, last_error, next_attempt_at, created_at, delivered_at"
                         " FROM outbox WHERE application_id = ? ORDER BY id DESC LIMIT 1", [application_id]))
    return rows[0] if rows else None
