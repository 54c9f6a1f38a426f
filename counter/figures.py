"""The figures a city reports about its counter, from the applications and their audit trail.

Definitions (also shown on the page):
- a visit is an application created that day (drafts abandoned at the kiosk are not counted);
- a form is one procedure of a visit that was not cancelled;
- scan to confirmation runs from the first time a clerk opened the application (the first
  `clerk_view` in the exchange log, normally the scan of the printed form) to its confirmation;
- a correction is a value changed by a clerk (an audit event of kind `field` by `clerk:…`).
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlite_utils

from core.application import State
from core.catalogue import Catalogue
from counter import casework


class DurationFigures:
    """Median and 90th percentile of `durations` (scan → confirmation, minutes)."""

    durations: list[float]

    @property
    def median_minutes(self) -> float | None:
        return statistics.median(self.durations) if self.durations else None

    @property
    def p90_minutes(self) -> float | None:
        return percentile(self.durations, 90)


@dataclass
class DayFigures(DurationFigures):
    day: date
    visits: int = 0
    forms: int = 0
    confirmed: int = 0
    corrections: int = 0
    durations: list[float] = field(default_factory=list)  # scan → confirmation, minutes


@dataclass
class ProcedureFigures:
    procedure: str
    forms: int = 0
    corrected_forms: int = 0
    corrections: int = 0

    @property
    def corrections_per_form(self) -> float:
        return self.corrections / self.forms if self.forms else 0.0


@dataclass
class Figures(DurationFigures):
    start: date
    end: date
    days: list[DayFigures]
    procedures: list[ProcedureFigures]
    durations: list[float]
    visits: int
    forms: int
    confirmed: int
    corrections: int
    corrected_visits: int
    top_fields: list[tuple[str, int]]

    @property
    def corrections_per_form(self) -> float:
        return self.corrections / self.forms if self.forms else 0.0


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def compute(db: sqlite_utils.Database, catalogue: Catalogue, start: date, end: date) -> Figures:
    """Figures for the local days start..end (inclusive)."""
    first, _ = casework.local_day_bounds(start)
    _, last = casework.local_day_bounds(end)
    rows = [r for r in casework.summaries_between(db, first, last) if r.app.state is not State.DRAFT]
    corrected_by_app = casework.corrected_fields_between(db, first, last)
    days = {start + timedelta(days=i): DayFigures(start + timedelta(days=i)) for i in range((end - start).days + 1)}
    procs: dict[str, ProcedureFigures] = {}
    fields_of: dict[str, set[str]] = {}
    all_durations: list[float] = []
    field_counts: Counter[str] = Counter()
    corrected_visits = 0
    tz = casework.local_tz()
    for row in rows:
        app, tl = row.app, row.timeline
        day = days.get(app.created_at.astimezone(tz).date())
        if day is None:
            continue
        corrected = corrected_by_app.get(app.id, [])
        day.visits += 1
        day.corrections += len(corrected)
        field_counts.update(corrected)
        corrected_visits += bool(corrected)
        if app.state is not State.CANCELLED:
            day.forms += len(app.procedures)
            for pid in app.procedures:
                pf = procs.setdefault(pid, ProcedureFigures(pid))
                if pid not in fields_of:
                    known = pid in catalogue.procedures
                    fields_of[pid] = {f.name for f in catalogue.fields_for([pid])} if known else set()
                mine = [f for f in corrected if f in fields_of[pid]]
                pf.forms += 1
                pf.corrections += len(mine)
                pf.corrected_forms += bool(mine)
        if tl.confirmed_at:
            day.confirmed += 1
        if tl.scan_to_confirm is not None:
            minutes = tl.scan_to_confirm.total_seconds() / 60
            day.durations.append(minutes)
            all_durations.append(minutes)
    day_list = list(days.values())
    return Figures(
        start=start, end=end, days=day_list,
        procedures=sorted(procs.values(), key=lambda p: (-p.forms, p.procedure)),
        durations=all_durations, visits=sum(d.visits for d in day_list), forms=sum(d.forms for d in day_list),
        confirmed=sum(d.confirmed for d in day_list), corrections=sum(d.corrections for d in day_list),
        corrected_visits=corrected_visits, top_fields=field_counts.most_common(10),
    )
