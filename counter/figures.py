"""The figures a city reports about its counter (the plan's measures), from the system's own
records: the applications and their audit trail, the calling system's calls, the exchange log.

Definitions (also shown on the page, and in docs/counter.md):
- an application counts on the day (Japan's) it was made; drafts abandoned at the kiosk do not;
- a visit is the applications of a day and office that share a reception number (the kiosk
  gives one per visit; numbers count per office, so two offices' A-001 are two visits); an
  application without one (made at the counter) is a visit of its own; one made before offices
  were kept is the main office's, as the calls of then are;
- a form is one procedure of an application that was not cancelled;
- a visit's stay runs from its reception (its first application made) to its first call
  (core.calling: of its number at its office) and on to done: its last confirmation or
  rejection, once none of its applications is still open. Without a call that day, only reception → done is known;
- scan to confirmation runs from the first `clerk_view` in the exchange log to the confirmation;
- a correction is a value changed by a clerk (an audit event of kind `field` by `clerk:…`);
- a return is a form sent back: its application was rejected (差戻し), or it was printed again
  after a clerk corrected one of its items. A form counts once;
- a form's channel: pre-registered (a value came from a resident's QR), kiosk, or clerk.

Speed: a year (365,000 visits) must answer within 300 ms. Each day that has ended is summarized
once into table `figure_days`, with its durations as counts per whole minute, which add up: a
period's median and 90th percentile come from its days' merged counts, exact to the minute.
A day is summarized again when anything about it changes (an audit event of one of its
applications, a call, a clerk's first view: watermarks in `figure_marks`), or when a
procedure's items do. Today is always computed from the records.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import operator
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core import calling
from core import exchange_log as xlog
from core.application import CLOSED_STATES, State
from core.catalogue import Catalogue
from core.clock import in_japan
from core.store.applications import ApplicationStore
from core.store.db import is_unwritable, json_list, write
from core.store.tenancy import key_with_tenant
from counter import casework

log = logging.getLogger("madoguchi.counter.figures")
migrations = Migrations("counter.figures")
# Bump when a day's stored summary changes its form or meaning: every stored day is made again.
FORMAT = 2     # 2: a visit is (day, office, reception number)
LONGEST_MINUTES = 24 * 60          # a longer duration counts in this last bin
CHANNELS = ("prereg", "kiosk", "clerk")
STAYS = ("total", "wait", "service", "scan")
ONLINE_TARGET = 0.60               # the plan: 60% or more online (pre-registered)
SATISFIED_TARGET = 0.90            # the plan: 90% or more satisfied
STAY_TARGET = 0.50                 # the plan: the time at the office halved
RETURNS_TARGET = 0.20              # the plan: returns down by 80%
NOT_RECORDED = ""                  # the office of applications made before offices were kept
ROWS_BY_DAY_UP_TO = 62             # a longer period's tables have a row per month (its CSV per day)


@migrations()
def m001_figure_days(db: sqlite_utils.Database) -> None:
    db.table("figure_days").create({"day": str, "basis": str, "summary": str}, pk="day")
    db.table("figure_marks").create({"name": str, "value": int}, pk="name")


@migrations()
def m002_figure_months(db: sqlite_utils.Database) -> None:
    # Whole months that have ended, merged from their days (a year's page merges 12, not 365),
    # with each day's median and 90th percentile stay for the chart.
    db.table("figure_months").create({"month": str, "basis": str, "summary": str, "daily": str}, pk="month")


@migrations()
def m003_figures_per_tenant(db: sqlite_utils.Database) -> None:
    # Each town's days, months and watermarks (core.store.tenancy).
    key_with_tenant(db, "figure_days", "day")
    key_with_tenant(db, "figure_months", "month")
    key_with_tenant(db, "figure_marks", "name")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Histogram:
    """Durations as counts per whole minute (12 min 40 s counts in minute 12). Counts add up, so
    merged days give the period's percentiles, the same as from every duration, to the minute.

    Kept as sorted (minute, count) pairs; one that days are merged into keeps a count for every
    minute instead (a year merges some 1,500 of them per page)."""

    def __init__(self, counts: dict[int, int] | None = None, known: tuple[int | None, int | None] | None = None):
        self._pairs: list[list[int]] = sorted([m, n] for m, n in (counts or {}).items() if n)
        self._dense: list[int] | None = None
        self._known = known     # (median, p90) as stored with a day, until something is added

    def _bins(self) -> list[int]:
        if self._dense is None:
            self._dense = [0] * (LONGEST_MINUTES + 1)
            for minute, n in self._pairs:
                self._dense[minute] += n
            self._pairs = []
        self._known = None
        return self._dense

    def add(self, minutes: float) -> None:
        self._bins()[min(max(int(minutes), 0), LONGEST_MINUTES)] += 1

    def merge(self, other: Histogram) -> None:
        bins = self._bins()
        if other._dense is not None:
            self._dense = list(map(operator.add, bins, other._dense))
        else:
            for minute, n in other._pairs:
                bins[minute] += n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Histogram) and self.counts == other.counts

    __hash__ = None  # type: ignore[assignment]   # mutable: never a dict key

    @property
    def counts(self) -> dict[int, int]:
        if self._dense is not None:
            return {m: n for m, n in enumerate(self._dense) if n}
        return {m: n for m, n in self._pairs}

    @property
    def total(self) -> int:
        return sum(self._dense) if self._dense is not None else sum(n for _m, n in self._pairs)

    def percentile(self, p: float) -> int | None:
        """The nearest-rank percentile's minute (percentile() of the durations, cut to the minute)."""
        if self._known is not None and p in (50, 90):
            return self._known[0 if p == 50 else 1]
        total = self.total
        if not total:
            return None
        rank, seen = max(1, math.ceil(p / 100 * total)), 0
        pairs = enumerate(self._dense) if self._dense is not None else self._pairs
        for minute, n in pairs:
            seen += n
            if seen >= rank:
                return minute
        return None  # pragma: no cover - the counts add up to total

    @property
    def median(self) -> int | None:
        return self.percentile(50)

    @property
    def p90(self) -> int | None:
        return self.percentile(90)

    def to_json(self) -> list:
        return [self.median, self.p90, [[m, n] for m, n in sorted(self.counts.items())]]

    @classmethod
    def from_json(cls, raw: list) -> Histogram:
        median, p90, pairs = raw
        out = cls(known=(median, p90))
        out._pairs = pairs       # stored sorted
        return out


def _add_counts(into: list[int], more: list[int]) -> None:
    for i, n in enumerate(more):
        into[i] += n


@dataclass
class ProcedureFigures:
    procedure: str
    forms: int = 0
    corrected_forms: int = 0
    corrections: int = 0
    rejected: int = 0
    reprinted: int = 0                 # printed again after a clerk corrected one of its items
    returned: int = 0                  # rejected or reprinted, each form once
    by_channel: list[int] = field(default_factory=lambda: [0] * len(CHANNELS))   # forms, in CHANNELS' order

    @property
    def corrections_per_form(self) -> float:
        return self.corrections / self.forms if self.forms else 0.0

    @property
    def returns_share(self) -> float | None:
        return self.returned / self.forms if self.forms else None

    @property
    def channels(self) -> dict[str, int]:
        return dict(zip(CHANNELS, self.by_channel, strict=True))

    def share(self, channel: str) -> float | None:
        return self.by_channel[CHANNELS.index(channel)] / self.forms if self.forms else None

    def merge(self, other: ProcedureFigures) -> None:
        self.forms += other.forms
        self.corrected_forms += other.corrected_forms
        self.corrections += other.corrections
        self.rejected += other.rejected
        self.reprinted += other.reprinted
        self.returned += other.returned
        _add_counts(self.by_channel, other.by_channel)

    def to_json(self) -> list:
        return [self.forms, self.corrected_forms, self.corrections, self.rejected, self.reprinted, self.returned,
                self.by_channel]

    @classmethod
    def from_json(cls, procedure: str, raw: list) -> ProcedureFigures:
        *counts, by_channel = raw
        return cls(procedure, *counts, by_channel=list(by_channel))


@dataclass
class OfficeFigures:
    office: str                        # an office id of the site, or NOT_RECORDED
    by_channel: list[int]              # forms, in CHANNELS' order

    @property
    def channels(self) -> dict[str, int]:
        return dict(zip(CHANNELS, self.by_channel, strict=True))

    @property
    def forms(self) -> int:
        return sum(self.by_channel)

    def share(self, channel: str) -> float | None:
        return self.by_channel[CHANNELS.index(channel)] / self.forms if self.forms else None


@dataclass
class Tally:
    """What adds up over days: counts, duration bins, per procedure, per office, per item."""
    applications: int = 0
    visits: int = 0
    forms: int = 0
    confirmed: int = 0
    corrections: int = 0
    corrected_applications: int = 0
    stays_done: int = 0                # visits done (every application closed, one decided)
    stays_uncalled: int = 0            # …of which never called: only reception → done is known
    stays: dict[str, Histogram] = field(default_factory=lambda: {k: Histogram() for k in STAYS})
    procedure_figures: dict[str, ProcedureFigures] = field(default_factory=dict)
    offices: dict[str, list[int]] = field(default_factory=dict)   # office → forms in CHANNELS' order
    field_counts: dict[str, int] = field(default_factory=dict)

    _COUNTS = ("applications", "visits", "forms", "confirmed", "corrections", "corrected_applications",
               "stays_done", "stays_uncalled")

    def merge(self, other: Tally) -> None:
        for name in self._COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k in STAYS:
            self.stays[k].merge(other.stays[k])
        for pid, pf in other.procedure_figures.items():
            self.procedure_figures.setdefault(pid, ProcedureFigures(pid)).merge(pf)
        for office, by_channel in other.offices.items():
            _add_counts(self.offices.setdefault(office, [0] * len(CHANNELS)), by_channel)
        for name, n in other.field_counts.items():
            self.field_counts[name] = self.field_counts.get(name, 0) + n

    # scan → confirmation (the figure before the calling system; kept for comparison)
    @property
    def median_minutes(self) -> int | None:
        return self.stays["scan"].median

    @property
    def p90_minutes(self) -> int | None:
        return self.stays["scan"].p90

    @property
    def corrections_per_form(self) -> float:
        return self.corrections / self.forms if self.forms else 0.0

    @property
    def channels(self) -> dict[str, int]:
        total = [0] * len(CHANNELS)
        for by_channel in self.offices.values():
            _add_counts(total, by_channel)
        return dict(zip(CHANNELS, total, strict=True))

    @property
    def online_share(self) -> float | None:
        return self.channels["prereg"] / self.forms if self.forms else None

    @property
    def returned(self) -> int:
        return sum(p.returned for p in self.procedure_figures.values())

    @property
    def returns_share(self) -> float | None:
        return self.returned / self.forms if self.forms else None

    def to_json(self) -> dict[str, Any]:
        return {"counts": [getattr(self, n) for n in self._COUNTS],
                "stays": {k: self.stays[k].to_json() for k in STAYS},
                "procedures": {pid: pf.to_json() for pid, pf in self.procedure_figures.items()},
                "offices": self.offices,
                "fields": dict(self.field_counts)}

    def load_json(self, raw: dict[str, Any]) -> None:
        for name, value in zip(self._COUNTS, raw["counts"], strict=True):
            setattr(self, name, value)
        self.stays = {k: Histogram.from_json(raw["stays"][k]) for k in STAYS}
        self.procedure_figures = {pid: ProcedureFigures.from_json(pid, v) for pid, v in raw["procedures"].items()}
        self.offices = raw["offices"]
        self.field_counts = raw["fields"]


@dataclass
class DayFigures(Tally):
    day: date = date.min
    last: date | None = None           # a month's row: its last day in the period

    @property
    def calls_used(self) -> bool:
        return self.stays["wait"].total > 0


@dataclass
class Figures(Tally):
    start: date = date.min
    end: date = date.min
    days: list[DayFigures] = field(default_factory=list)
    rows: list[DayFigures] = field(default_factory=list)   # the tables' rows: the days, or months
    by_month: bool = False
    daily: list[tuple[date, int | None, int | None]] = field(default_factory=list)   # (day, median, p90) stay

    @property
    def procedures(self) -> list[ProcedureFigures]:
        return sorted(self.procedure_figures.values(), key=lambda p: (-p.forms, p.procedure))

    @property
    def office_figures(self) -> list[OfficeFigures]:
        return sorted((OfficeFigures(o, list(c)) for o, c in self.offices.items()),
                      key=lambda o: (o.office == NOT_RECORDED, o.office))

    @property
    def top_fields(self) -> list[tuple[str, int]]:
        return Counter(self.field_counts).most_common(10)


# --- one day, from the records ------------------------------------------------------------------

@dataclass
class Stay:
    """One visit's times."""
    reception_number: str | None
    received_at: datetime
    called_at: datetime | None = None
    done_at: datetime | None = None

    @staticmethod
    def _minutes(start: datetime | None, end: datetime | None) -> float | None:
        return max((end - start).total_seconds() / 60, 0.0) if start and end else None

    @property
    def wait(self) -> float | None:
        return self._minutes(self.received_at, self.called_at)

    @property
    def service(self) -> float | None:
        return self._minutes(self.called_at, self.done_at)

    @property
    def total(self) -> float | None:
        return self._minutes(self.received_at, self.done_at)


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _channel(row: dict[str, Any]) -> str:
    if row["from_prereg"]:
        return "prereg"
    return "kiosk" if row["channel"] == "kiosk" else "clerk"


def _day_rows(db: sqlite_utils.Database, day: date) -> list[dict[str, Any]]:
    first, last = casework.local_day_bounds(day)
    return [r for r in ApplicationStore(db).summaries_between(first, last) if r["state"] != str(State.DRAFT)]


def stays_of(db: sqlite_utils.Database, day: date, rows: list[dict[str, Any]] | None = None) -> list[Stay]:
    """The day's visits with their times, exact (the page shows them cut to the minute)."""
    rows = _day_rows(db, day) if rows is None else rows
    calls = calling.called_numbers(db, day)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        office = r["office"] or calling.office_of(None)
        key = (office, f"n:{r['reception_number']}") if r["reception_number"] else (office, f"a:{r['id']}")
        groups.setdefault(key, []).append(r)
    stays = []
    for (office, _), group in groups.items():
        number = group[0]["reception_number"]
        stay = Stay(number, min(datetime.fromisoformat(r["created_at"]) for r in group),
                    calls.get((office, number)) if number else None)
        decided = [d for d in (_dt(r["decided_at"]) for r in group) if d]
        if decided and all(State(r["state"]) in CLOSED_STATES for r in group):
            stay.done_at = max(decided)
        stays.append(stay)
    return stays


def summarize_day(db: sqlite_utils.Database, catalogue: Catalogue, day: date,
                  fields_of: dict[str, set[str]] | None = None) -> DayFigures:
    """One day's figures, from the records."""
    out = DayFigures(day=day)
    rows = _day_rows(db, day)
    if not rows:
        return out
    first, last = casework.local_day_bounds(day)
    corrected_by_app = casework.corrected_fields_between(db, first, last)
    views = casework.first_views(db, [r["id"] for r in rows])
    fields_of = {} if fields_of is None else fields_of
    for r in rows:
        corrected = corrected_by_app.get(r["id"], [])
        out.applications += 1
        out.corrections += len(corrected)
        for name in corrected:
            out.field_counts[name] = out.field_counts.get(name, 0) + 1
        out.corrected_applications += bool(corrected)
        if r["confirmed_at"]:
            out.confirmed += 1
            if r["id"] in views:
                out.stays["scan"].add(Stay._minutes(views[r["id"]], _dt(r["confirmed_at"])) or 0.0)
        if r["state"] == str(State.CANCELLED):
            continue
        procedures = json.loads(r["procedures"])
        channel = CHANNELS.index(_channel(r))
        out.forms += len(procedures)
        out.offices.setdefault(r["office"] or NOT_RECORDED, [0] * len(CHANNELS))[channel] += len(procedures)
        reprinted_after = (r["first_correction_event"] is not None and r["last_print_event"] is not None
                           and r["last_print_event"] > r["first_correction_event"])
        for pid in procedures:
            if pid not in fields_of:
                known = pid in catalogue.procedures
                fields_of[pid] = {f.name for f in catalogue.fields_for([pid])} if known else set()
            mine = [f for f in corrected if f in fields_of[pid]]
            pf = out.procedure_figures.setdefault(pid, ProcedureFigures(pid))
            pf.forms += 1
            pf.by_channel[channel] += 1
            pf.corrections += len(mine)
            pf.corrected_forms += bool(mine)
            reprinted = bool(mine) and reprinted_after
            pf.rejected += bool(r["rejected"])
            pf.reprinted += reprinted
            pf.returned += bool(r["rejected"]) or reprinted
    for stay in stays_of(db, day, rows):
        out.visits += 1
        if stay.wait is not None:
            out.stays["wait"].add(stay.wait)
        if stay.total is None:
            continue
        out.stays_done += 1
        out.stays["total"].add(stay.total)
        if stay.service is not None:
            out.stays["service"].add(stay.service)
        else:
            out.stays_uncalled += 1
    return out


# --- ended days, summarized once ---------------------------------------------------------------

def _current_marks(db: sqlite_utils.Database) -> dict[str, int]:
    return {"events": ApplicationStore(db).last_event_id(), "calls": calling.last_call_id(db),
            "views": xlog.head(db)["seq"]}


def _stored_marks(db: sqlite_utils.Database) -> dict[str, int]:
    return {r["name"]: r["value"] for r in db.query("SELECT name, value FROM figure_marks")}


def _days_changed_since(db: sqlite_utils.Database, marks: dict[str, int]) -> set[date]:
    """The days whose figures may have changed since the watermarks `marks`."""
    store = ApplicationStore(db)
    created = store.created_at_of_changed_since(marks["events"])
    created |= store.created_at_of(xlog.application_ids_after(db, "clerk_view", marks["views"]))
    days = {in_japan(at).date() for at in created}
    return days | calling.days_called_after(db, marks["calls"])


def _basis(catalogue: Catalogue) -> str:
    """What a kept day depends on beyond the records: the summary's form, and which items each
    procedure has (a correction counts for the procedures it belongs to). Not the whole
    catalogue's version: a saved layout must not summarize a year again."""
    items = {pid: sorted(f.name for f in catalogue.fields_for([pid])) for pid in sorted(catalogue.procedures)}
    return f"{FORMAT}:" + hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def _forget_changed_days(db: sqlite_utils.Database, marks: dict[str, int]) -> None:
    """Drop the stored days (and their months) that changed since the last look, and move the
    watermarks to `marks`."""
    with write(db):
        seen = _stored_marks(db)
        if seen == marks:
            return
        if set(seen) == set(marks):
            changed = sorted(d.isoformat() for d in _days_changed_since(db, seen))
            db.execute(f"DELETE FROM figure_days WHERE day IN (SELECT value FROM {json_list(db)})",
                       [json.dumps(changed)])
            db.execute(f"DELETE FROM figure_months WHERE month IN (SELECT value FROM {json_list(db)})",
                       [json.dumps(sorted({d[:7] for d in changed}))])
        else:
            db.execute("DELETE FROM figure_days")
            db.execute("DELETE FROM figure_months")
        db.conn.executemany("INSERT INTO figure_marks (name, value) VALUES (?, ?)"
                            " ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value", list(marks.items()))


@dataclass
class _Kept:
    """What this request may keep: the watermarks it saw, or None (a read-only or busy database)."""
    marks: dict[str, int] | None
    basis: str

    def store(self, db: sqlite_utils.Database, sql: str, rows: list[tuple]) -> None:
        if not rows or self.marks is None:
            return
        try:
            with write(db):
                if _stored_marks(db) == self.marks:   # else someone saw a change meanwhile: keep nothing
                    db.conn.executemany(sql, rows)
        except Exception as e:     # a read-only or busy database (either engine's error): keep nothing
            if not is_unwritable(e):
                raise
            log.warning("figures not kept: %s", type(e).__name__)


def _look(db: sqlite_utils.Database, catalogue: Catalogue) -> _Kept:
    marks = _current_marks(db)
    try:
        _forget_changed_days(db, marks)
    except Exception as e:      # a read-only or busy database: compute, keep nothing
        if not is_unwritable(e):
            raise
        log.warning("figures not kept: %s", type(e).__name__)
        return _Kept(None, _basis(catalogue))
    return _Kept(marks, _basis(catalogue))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _ended_days(db: sqlite_utils.Database, catalogue: Catalogue, days: list[date],
                kept: _Kept) -> dict[date, DayFigures]:
    """The figures of ended days, from their stored summaries, summarizing (and storing) the missing."""
    if not days:
        return {}
    found: dict[date, DayFigures] = {}
    if kept.marks is not None:
        for row in db.execute(f"SELECT day, summary FROM figure_days WHERE day IN (SELECT value FROM {json_list(db)})"
                              " AND basis = ?", [json.dumps([d.isoformat() for d in days]), kept.basis]):
            figures = DayFigures(day=date.fromisoformat(row[0]))
            figures.load_json(json.loads(row[1]))
            found[figures.day] = figures
    fields_of: dict[str, set[str]] = {}
    made = {d: summarize_day(db, catalogue, d, fields_of) for d in days if d not in found}
    kept.store(db, "INSERT INTO figure_days (day, basis, summary) VALUES (?, ?, ?) ON CONFLICT (tenant_id, day)"
                   " DO UPDATE SET basis = excluded.basis, summary = excluded.summary",
               [(d.isoformat(), kept.basis, _dumps(f.to_json())) for d, f in made.items()])
    return {d: found.get(d) or made[d] for d in days}


def _month(days: list[DayFigures]) -> DayFigures:
    month = DayFigures(day=days[0].day, last=days[-1].day)
    for day in days:
        month.merge(day)
    return month


def _daily(days: list[DayFigures]) -> list[tuple[date, int | None, int | None]]:
    return [(d.day, d.stays["total"].median, d.stays["total"].p90) for d in days]


def _ended_months(db: sqlite_utils.Database, catalogue: Catalogue, months: list[list[date]],
                  kept: _Kept) -> dict[date, tuple[DayFigures, list]]:
    """Whole months that have ended ({first day: (the month, its days' stays)}), from their stored
    summaries, merging (and storing) the missing from their days."""
    found: dict[date, tuple[DayFigures, list]] = {}
    if kept.marks is not None and months:
        keys = [m[0].isoformat()[:7] for m in months]
        for key, summary, daily in db.execute(
                f"SELECT month, summary, daily FROM figure_months WHERE month IN (SELECT value FROM {json_list(db)})"
                " AND basis = ?", [json.dumps(keys), kept.basis]):
            first = date.fromisoformat(key + "-01")
            month = DayFigures(day=first)
            month.load_json(json.loads(summary))
            points = [(date.fromisoformat(d), m, p) for d, m, p in json.loads(daily)]
            month.last = points[-1][0]
            found[first] = (month, points)
    missing = [m for m in months if m[0] not in found]
    made = {}
    if missing:
        by_day = _ended_days(db, catalogue, [d for m in missing for d in m], kept)
        for m in missing:
            days = [by_day[d] for d in m]
            made[m[0]] = (_month(days), _daily(days))
    kept.store(db, "INSERT INTO figure_months (month, basis, summary, daily) VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (tenant_id, month) DO UPDATE SET basis = excluded.basis, summary = excluded.summary,"
                   " daily = excluded.daily",
               [(first.isoformat()[:7], kept.basis, _dumps(month.to_json()),
                 _dumps([(d.isoformat(), med, p90) for d, med, p90 in points]))
                for first, (month, points) in made.items()])
    return found | made


def compute(db: sqlite_utils.Database, catalogue: Catalogue, start: date, end: date,
            today: date | None = None, per_day: bool = False) -> Figures:
    """Figures for the local days start..end (inclusive). The rows are the days, or for more than
    ROWS_BY_DAY_UP_TO days (unless `per_day`) the months, whole ended months from their summaries."""
    today = today or casework.today()
    span = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    kept = _look(db, catalogue)
    out = Figures(start=start, end=end)
    by_month = len(span) > ROWS_BY_DAY_UP_TO and not per_day
    months: dict[date, list[date]] = {}
    for d in span:
        months.setdefault(d.replace(day=1) if by_month else d, []).append(d)
    whole = [m for first, m in months.items() if by_month and m[-1] < today
             and (m[-1] + timedelta(days=1)).month != first.month and m[0] == first]
    kept_months = _ended_months(db, catalogue, whole, kept)
    rest = [d for first, m in months.items() if first not in kept_months for d in m]
    by_day = _ended_days(db, catalogue, [d for d in rest if d < today], kept)
    if start <= today <= end:
        by_day[today] = summarize_day(db, catalogue, today)
    for first, m in months.items():
        if first in kept_months:
            month, points = kept_months[first]
            out.rows.append(month)
            out.daily += points
            continue
        days = [by_day.get(d) or DayFigures(day=d) for d in m]    # days to come have no figures yet
        out.daily += _daily(days)
        out.rows.append(_month(days) if by_month else days[0])
        if not by_month:
            out.days += days
    out.by_month = by_month
    for row in out.rows:
        out.merge(row)
    return out


# --- the page's chart and targets ----------------------------------------------------------------

@dataclass
class Target:
    measure: str        # total_stay | returns | online | satisfied
    value: float | None
    target: float | None   # None: no baseline set
    at_least: bool      # the value must be at least (else at most) the target

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target if self.at_least else self.value <= self.target


def targets(fig: Figures, satisfied_share: float | None, stay_baseline_minutes: float,
            returns_baseline_percent: float) -> list[Target]:
    """Each of the plan's measures against its target ([counter] baselines for the relative ones)."""
    returns = None if fig.returns_share is None else fig.returns_share * 100
    median = fig.stays["total"].median
    return [
        Target("total_stay", None if median is None else float(median),
               stay_baseline_minutes * STAY_TARGET if stay_baseline_minutes > 0 else None, False),
        Target("returns", returns,
               returns_baseline_percent * RETURNS_TARGET if returns_baseline_percent > 0 else None, False),
        Target("online", None if fig.online_share is None else fig.online_share * 100, ONLINE_TARGET * 100, True),
        Target("satisfied", None if satisfied_share is None else satisfied_share * 100, SATISFIED_TARGET * 100, True),
    ]


@dataclass
class Chart:
    """A line chart of the days' median and 90th percentile stay, as SVG coordinates."""
    width: int
    height: int
    left: int
    bottom: int
    median_points: str
    p90_points: str
    ticks: list[tuple[float, int]]     # (y, minutes)
    first_label: str
    last_label: str


def stay_chart(daily: list[tuple[date, int | None, int | None]], width: int = 640, height: int = 220) -> Chart:
    left, top, bottom = 44, 10, height - 24
    longest = max([p90 or 0 for _d, _m, p90 in daily] + [10])
    step = max(1, math.ceil(longest / 4 / 5) * 5)
    scale_max = step * 4
    x_step = (width - left - 10) / max(len(daily) - 1, 1)

    def y(minutes: int) -> float:
        return round(bottom - (bottom - top) * minutes / scale_max, 1)

    def points(which: int) -> str:
        return " ".join(f"{round(left + i * x_step, 1)},{y(point[which])}"
                        for i, point in enumerate(daily) if point[which] is not None)

    return Chart(width, height, left, bottom, points(1), points(2), [(y(step * i), step * i) for i in range(5)],
                 daily[0][0].isoformat() if daily else "", daily[-1][0].isoformat() if daily else "")


# --- kept ahead of the first look ----------------------------------------------------------------

KEEP_DAYS = 366            # the longest period the page shows
KEEP_EVERY_SECONDS = 3600  # a day ends at midnight: within the hour it is kept
KEEP_FIRST_AFTER_SECONDS = 5.0   # let the server start first


def keep_ended_days(db: sqlite_utils.Database, catalogue: Catalogue, today: date | None = None,
                    stop: threading.Event | None = None) -> None:
    """Summarize the ended days (and whole months) of the last KEEP_DAYS not kept yet, a month at a
    time from the newest, so the first look at a year is as quick as the next (not tens of seconds)."""
    today = today or casework.today()
    last, oldest = today - timedelta(days=1), today - timedelta(days=KEEP_DAYS)
    while last >= oldest:
        first = max(last.replace(day=1), oldest)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        whole = first.day == 1 and (last + timedelta(days=1)).day == 1
        kept = _look(db, catalogue)
        _ended_months(db, catalogue, [days], kept) if whole else _ended_days(db, catalogue, days, kept)
        last = first - timedelta(days=1)
        if stop is not None and stop.wait(0.2):    # let the requests have the interpreter between months
            return


def start_service(app) -> Callable[[], None]:
    """`web.add_service` hook: keep the ended days summarized while the server runs."""
    from core.catalogue import get_catalogue
    from core.store.db import KeptConnection
    config = app.config["MADOGUCHI"]
    stop = threading.Event()

    def loop():
        kept = KeptConnection(config)
        try:
            wait = KEEP_FIRST_AFTER_SECONDS
            while not stop.wait(wait):
                wait = KEEP_EVERY_SECONDS
                try:
                    kept.run(lambda db: keep_ended_days(db, get_catalogue(), stop=stop))
                except Exception as e:     # noqa: BLE001 - tried again within the hour; the page computes anyway
                    log.warning("figures not kept ahead: %s", type(e).__name__)
        finally:
            kept.close()

    thread = threading.Thread(target=loop, name="madoguchi-figures", daemon=True)
    thread.start()

    def stop_service():
        stop.set()
        thread.join(timeout=10)
    return stop_service
