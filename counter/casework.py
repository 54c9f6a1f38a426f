"""What the clerk screens derive from an application and its audit trail (no Flask here).

Times come from the audit trail: `created`, the first print (the visitor then waits with the
printed form), the first `clerk_view` in the exchange log (the form was scanned or opened at
the counter) and the `confirmed` state change.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlite_utils

from core import exchange_log as xlog
from core.application import CLOSED_STATES as CLOSED_STATES
from core.application import FORM_CODE_PREFIX, Event, State, is_application_id, is_correction, is_print_event, utcnow
from core.application import OPEN_STATES as OPEN_STATES
from core.application import changed_since_print as changed_since_print
from core.application import values_as_printed as values_as_printed
from core.calling import office_of
from core.clock import JAPAN, today_in_japan
from core.forms import EARLIEST_DATE, LATEST_DATE
from core.store.applications import ApplicationStore
from kiosk.reception import PREFIX_RE, format_number


def local_tz():
    """The office's time zone: Japan's, whatever the server's clock is set to."""
    return JAPAN


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = local_tz()
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, start + timedelta(days=1)


def today() -> date:
    return today_in_japan()


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


_RECEPTION_RE = re.compile(r"^([A-Z]{1,3})[-‐－ー―]?([0-9]{1,4})$")


def read_reception_number(text: str) -> str | None:
    """A reception number as a clerk types it (A-001, a-1, Ａ－００１, A001) in the kiosk's
    form (kiosk.reception.format_number), or None when it is not one."""
    s = unicodedata.normalize("NFKC", (text or "")[:40]).strip().upper().replace(" ", "")
    m = _RECEPTION_RE.match(s)
    if not m or not PREFIX_RE.match(m.group(1)):
        return None
    return format_number(m.group(1), int(m.group(2)))


def card_expiry(events: Iterable[Event], today: date) -> dict | None:
    """The expiry of the card read at the kiosk, when the card_read event carries one
    (new={"card", "expiry": "YYYY-MM-DD", ...}), and whether it had passed (in Japan)."""
    for ev in reversed(list(events)):
        if ev.kind == "card_read" and isinstance(ev.new, dict) and ev.new.get("expiry"):
            try:
                expires_on = date.fromisoformat(str(ev.new["expiry"]))
            except ValueError:
                return None
            card = "driving_licence" if ev.new.get("card") in ("licence", "driving_licence") else "mynumber_card"
            return {"card": card, "expires_on": expires_on, "expired": expires_on < today}
    return None


# --- the audit trail ---------------------------------------------------------------------

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
        """The visitor's arrival (the application made at the kiosk, or at the counter from a
        pre-registration): a later print, at the counter or again, does not restart the wait."""
        return self.created_at

    def waited(self, now: datetime | None = None) -> timedelta | None:
        """From arrival until a clerk first opened it; still counting when none has."""
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


def print_failures(db: sqlite_utils.Database, application_ids: list[str]) -> dict[str, str]:
    """{application id: error code} for those whose latest print failed at the printer (the
    exchange log's `print` entry with result `error:<code>`)."""
    return {app_id: result.partition(":")[2] or "print_failed"
            for app_id, result in xlog.last_results(db, "print", application_ids).items()
            if result.startswith("error")}


def first_views(db: sqlite_utils.Database, application_ids: list[str]) -> dict[str, datetime]:
    """When a clerk first viewed each application (its first clerk_view exchange-log entry)."""
    return {app_id: datetime.fromisoformat(at)
            for app_id, at in xlog.first_at(db, "clerk_view", application_ids).items()}


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
    office: str | None = None          # where it was made (None: before offices were kept)


@dataclass
class QueueRow:
    app: Summary
    timeline: Timeline

    @property
    def is_open(self) -> bool:
        return self.app.state in OPEN_STATES


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def summaries_between(db: sqlite_utils.Database, start: datetime, end: datetime,
                      states: Iterable[str] | None = None, procedure: str | None = None,
                      reception_number: str | None = None) -> list[QueueRow]:
    """Applications created in [start, end), each with its timeline, oldest first."""
    import json
    found = ApplicationStore(db).summaries_between(start, end, states, procedure, reception_number)
    views = first_views(db, [r["id"] for r in found])
    rows = []
    for r in found:
        created_at = datetime.fromisoformat(r["created_at"])
        rows.append(QueueRow(
            Summary(r["id"], State(r["state"]), json.loads(r["procedures"]), r["channel"], r["reception_number"],
                    created_at, datetime.fromisoformat(r["updated_at"]), r["office"]),
            Timeline(created_at=created_at, printed_at=_dt(r["printed_at"]), last_printed_at=_dt(r["last_printed_at"]),
                     first_view_at=views.get(r["id"]), confirmed_at=_dt(r["confirmed_at"]),
                     closed_at=_dt(r["closed_at"]), corrections=r["corrections"] or 0)))
    return rows


def todays_with_reception_number(db: sqlite_utils.Database, number: str, office: str) -> list[str]:
    """Ids of today's (Japan's day) applications with this reception number, newest first: those
    made at `office`, or, when it has none, those of the other offices (numbers count per office,
    so two offices may both have an A-001; a visitor sent over keeps their slip)."""
    start, end = local_day_bounds(today())
    rows = summaries_between(db, start, end, reception_number=number)
    at_office = [r for r in rows if office_of(r.app.office) == office]
    return [r.app.id for r in reversed(at_office or rows)]


def corrected_fields_between(db: sqlite_utils.Database, start: datetime, end: datetime) -> dict[str, list[str]]:
    """Which fields clerks corrected, per application created in [start, end)."""
    out: dict[str, list[str]] = {}
    for app_id, field_name in ApplicationStore(db).clerk_corrections_between(start, end):
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


