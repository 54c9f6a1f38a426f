"""What the clerk screens derive from an application and its audit trail (no Flask here).

Times come from the audit trail: `created`, the first print (the visitor then waits with the
printed form), the first `clerk_view` in the exchange log (the form was scanned or opened at
the counter) and the `confirmed` state change.
"""
from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlite_utils

from core.application import FORM_CODE_PREFIX, Application, Event, State, is_application_id, iso, utcnow
from core.forms import EARLIEST_DATE, LATEST_DATE

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


def day_from(text: str | None) -> date | None:
    """A day typed or linked as YYYY-MM-DD, or None: not a date, or outside the years the
    system knows (1868–2100; a far day's bounds would not fit in a datetime in UTC)."""
    try:
        day = date.fromisoformat(text or "")
    except ValueError:
        return None
    return day if EARLIEST_DATE <= day <= LATEST_DATE else None


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


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]


# --- many applications at once (the queue, the figures) ----------------------------------

@dataclass
class Summary:
    """An application without its data: what the queue and the figures need."""
    id: str
    state: State
    procedures: list[str]
    channel: str
    reception_number: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class QueueRow:
    app: Summary
    timeline: Timeline

    @property
    def is_open(self) -> bool:
        return self.app.state in OPEN_STATES


_PRINT = "((e.kind = 'state' AND e.new = '\"printed\"') OR e.kind = 'printed')"
# One pass over the day's applications and their audit events (index on application_id),
# no values decoded: a busy office's day or month stays quick. INDEXED BY: without it the
# GROUP BY makes SQLite walk every application ever made in id order to find one day's.
_SUMMARY_SQL = f"""
SELECT a.id, a.state, a.procedures, a.channel, a.reception_number, a.created_at, a.updated_at,
  MIN(CASE WHEN {_PRINT} THEN e.at END) AS printed_at,
  MAX(CASE WHEN {_PRINT} THEN e.at END) AS last_printed_at,
  MIN(CASE WHEN e.kind = 'state' AND e.new = '"confirmed"' THEN e.at END) AS confirmed_at,
  MIN(CASE WHEN e.kind = 'state' AND e.new IN ('"confirmed"', '"rejected"', '"cancelled"') THEN e.at END) AS closed_at,
  SUM(CASE WHEN e.kind = 'field' AND e.actor LIKE 'clerk:%' THEN 1 ELSE 0 END) AS corrections,
  (SELECT MIN(x.at) FROM exchange_log x WHERE x.application_id = a.id AND x.purpose = 'clerk_view') AS first_view_at
FROM applications a INDEXED BY idx_applications_created_at
  LEFT JOIN application_events e ON e.application_id = a.id
WHERE a.created_at >= ? AND a.created_at < ?"""


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def summaries_between(db: sqlite_utils.Database, start: datetime, end: datetime,
                      states: Iterable[str] | None = None, procedure: str | None = None,
                      reception_number: str | None = None) -> list[QueueRow]:
    """Applications created in [start, end), each with its timeline, oldest first."""
    import json
    sql, params = _SUMMARY_SQL, [iso(start), iso(end)]
    states = list(states or [])
    if states:
        sql += f" AND a.state IN ({','.join('?' * len(states))})"
        params += states
    if procedure:
        sql += " AND EXISTS (SELECT 1 FROM json_each(a.procedures) WHERE value = ?)"
        params.append(procedure)
    if reception_number:
        sql += " AND a.reception_number = ?"
        params.append(reception_number)
    sql += " GROUP BY a.id ORDER BY a.created_at"
    rows = []
    for (app_id, state, procs, channel, number, created, updated, printed, last_printed, confirmed, closed,
         corrections, first_view) in db.execute(sql, params):
        created_at = datetime.fromisoformat(created)
        rows.append(QueueRow(
            Summary(app_id, State(state), json.loads(procs), channel, number, created_at,
                    datetime.fromisoformat(updated)),
            Timeline(created_at=created_at, printed_at=_dt(printed), last_printed_at=_dt(last_printed),
                     first_view_at=_dt(first_view), confirmed_at=_dt(confirmed), closed_at=_dt(closed),
                     corrections=corrections or 0)))
    return rows


def corrected_fields_between(db: sqlite_utils.Database, start: datetime, end: datetime) -> dict[str, list[str]]:
    """Which fields clerks corrected, per application created in [start, end)."""
    out: dict[str, list[str]] = {}
    for app_id, field_name in db.execute(
            "SELECT e.application_id, e.field FROM application_events e JOIN applications a ON a.id = e.application_id"
            " WHERE a.created_at >= ? AND a.created_at < ? AND e.kind = 'field' AND e.actor LIKE 'clerk:%'"
            " ORDER BY e.id", [iso(start), iso(end)]):
        out.setdefault(app_id, []).append(field_name)
    return out


def queue(db: sqlite_utils.Database, day: date, states: Iterable[str] | None = None, procedure: str | None = None,
          reception_number: str | None = None) -> list[QueueRow]:
    """The day's applications: those still open first, longest waiting first; then the closed ones."""
    start, end = local_day_bounds(day)
    rows = summaries_between(db, start, end, states, procedure, reception_number)
    open_rows = sorted((r for r in rows if r.is_open), key=lambda r: r.timeline.waiting_since)
    closed = sorted((r for r in rows if not r.is_open), key=lambda r: r.app.updated_at, reverse=True)
    return open_rows + closed


def outbox_state(db: sqlite_utils.Database, application_id: str) -> dict[str, Any] | None:
    """The latest outbox row of an application (what the forwarding worker did with it)."""
    rows = list(db.query("SELECT id, state, attempts, last_error, next_attempt_at, created_at, delivered_at"
                         " FROM outbox WHERE application_id = ? ORDER BY id DESC LIMIT 1", [application_id]))
    return rows[0] if rows else None
