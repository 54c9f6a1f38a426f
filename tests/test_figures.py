"""The figures page's measures (issue 15): the stay from reception through the call to done,
returns per form, channel shares per procedure and per office, against the plan's targets;
ended days kept as per-minute bins that give the same medians as the records, and that follow
a change to a day that has ended."""
import csv
import io
import random
from datetime import timedelta

import pytest

from core import calling
from core import exchange_log as xlog
from core.application import Application, Source, State
from core.catalogue import get_catalogue
from core.store.applications import ApplicationStore
from core.store.db import write
from counter import casework, figures
from tests.fixtures_counter import sign_in, text_of

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)

DATA = {"name": "山田\u3000太郎", "birth_date": "1985-04-01", "postal_code": "1000001"}


def _visit(db, day, *, number, minutes_in=9 * 60, wait=None, service=20.0, procedures=("juminhyo",),
           channel="kiosk", qr=False, office="honcho", state=State.CONFIRMED, viewed_after=None):
    """One application of `day` received `minutes_in` minutes after midnight (Japan), called
    `wait` minutes later (None: never called) and decided `service` minutes after the call
    (after reception when not called). Times are set in the records as they would have been."""
    received = casework.local_day_bounds(day)[0] + timedelta(minutes=minutes_in)
    source = Source.QR if qr else Source.CARD
    app = Application.create(list(procedures), DATA, source, actor="kiosk:kiosk-1", channel=channel, office=office)
    app.transition(State.SUBMITTED, actor="kiosk:kiosk-1")
    app.transition(State.PRINTED, actor="kiosk:kiosk-1")
    app.reception_number = number
    called = received + timedelta(minutes=wait) if wait is not None else None
    decided = (called or received) + timedelta(minutes=service)
    if state in (State.CONFIRMED, State.REJECTED):
        app.transition(state, actor="clerk:sato")
    for ev in app.pending_events:
        ev.at = decided if ev.kind == "state" and ev.new == str(state) and state is not State.PRINTED else received
    app.created_at = app.updated_at = received
    store = ApplicationStore(db)
    store.save(app)
    with write(db):
        if called is not None and number:
            c = calling.call(db, number, "窓口3", "clerk:sato", office=office)
            db.execute("UPDATE calls SET day = ?, called_at = ? WHERE id = ?",
                       [day.isoformat(), called.isoformat(), c["id"]])
        if viewed_after is not None:
            xlog.append(db, None, actor="clerk:sato", counterparty="clerk:sato", purpose="clerk_view",
                        application_id=app.id, payload={})
            db.execute("UPDATE exchange_log SET at = ? WHERE application_id = ? AND purpose = 'clerk_view'",
                       [(received + timedelta(minutes=viewed_after)).isoformat(), app.id])
    return app


@pytest.fixture
def today():
    return casework.today()


def test_minute_bins_give_the_records_percentiles_cut_to_the_minute():
    rng = random.Random(15)
    for _ in range(200):
        values = [rng.lognormvariate(2.5, 0.8) for _ in range(rng.randint(1, 300))]
        parts = [figures.Histogram() for _ in range(3)]
        for v in values:
            rng.choice(parts).add(v)
        merged = figures.Histogram()
        for part in parts:      # as the days of a period are merged
            merged.merge(figures.Histogram.from_json(part.to_json()))
        for p in (50, 90):
            assert merged.percentile(p) == int(figures.percentile(values, p))
    assert figures.Histogram().median is None
    one = figures.Histogram()
    one.add(3 * 24 * 60)        # a stay over days counts in the last bin
    assert one.median == figures.LONGEST_MINUTES


def test_stay_runs_from_reception_through_the_call_to_the_visits_last_decision(db, today):
    day = today - timedelta(days=3)
    # two applications (one visit), received 09:00 and 09:05, called at 09:12, the last decided 09:40.
    _visit(db, day, number="A-001", wait=12, service=10)
    _visit(db, day, number="A-001", minutes_in=9 * 60 + 5, wait=None, service=35)
    _visit(db, day, number="A-002", minutes_in=10 * 60, wait=30, service=5, state=State.REJECTED)
    _visit(db, day, number="A-003", minutes_in=11 * 60, wait=3, state=State.PRINTED)   # still at the window
    stays = {s.reception_number: s for s in figures.stays_of(db, day)}
    assert (stays["A-001"].wait, stays["A-001"].service, stays["A-001"].total) == (12, 28, 40)
    assert (stays["A-002"].wait, stays["A-002"].total) == (30, 35)
    assert stays["A-003"].wait == 3 and stays["A-003"].total is None
    fig = figures.compute(db, get_catalogue(), day, day, today=today)
    assert (fig.visits, fig.applications, fig.stays_done, fig.stays_uncalled) == (3, 4, 2, 0)
    assert fig.stays["total"].counts == {40: 1, 35: 1} and fig.stays["wait"].counts == {12: 1, 30: 1, 3: 1}
    assert fig.stays["service"].median == 5 and fig.stays["service"].p90 == 28


def test_a_visit_is_a_day_office_and_number_two_offices_a_001_are_two_visits(db, today):
    """Both offices gave A-001 that day (numbers count per office); only the main office called
    its own. A visit made before offices were kept is the main office's, as its call was."""
    day = today - timedelta(days=4)
    _visit(db, day, number="A-001", office="honcho", wait=6, service=10)
    _visit(db, day, number="A-001", office="honcho", minutes_in=9 * 60 + 2, wait=None, service=20)   # same visit
    _visit(db, day, number="A-001", office="minami", minutes_in=9 * 60 + 1, wait=None, service=30)
    _visit(db, day, number="A-002", office=None, minutes_in=10 * 60, wait=4, service=5)
    stays = {(s.reception_number, round(s.total)): s for s in figures.stays_of(db, day)}
    assert set(stays) == {("A-001", 22), ("A-001", 30), ("A-002", 9)}
    assert stays[("A-001", 22)].wait == 6               # the main office's A-001, called there
    assert stays[("A-001", 30)].called_at is None       # the branch's: never called at the branch
    assert stays[("A-002", 9)].wait == 4
    fig = figures.compute(db, get_catalogue(), day, day, today=today)
    assert (fig.visits, fig.applications, fig.stays_done, fig.stays_uncalled) == (3, 4, 3, 1)
    assert fig.stays["wait"].counts == {6: 1, 4: 1}
    # Kept and read back as the same (the day has ended).
    again = figures.compute(db, get_catalogue(), day, day, today=today)
    assert (again.visits, again.stays["wait"].counts) == (3, {6: 1, 4: 1})


def test_a_day_without_calls_counts_reception_to_done_only(app, clerks, db, today):
    day = today - timedelta(days=2)
    _visit(db, day, number="A-001", service=25)
    _visit(db, day, number="A-002", minutes_in=600, service=45)
    fig = figures.compute(db, get_catalogue(), day, day, today=today)
    assert (fig.stays_done, fig.stays_uncalled) == (2, 2)
    assert fig.stays["total"].median == 25 and fig.stays["wait"].total == 0 and not fig.days[0].calls_used
    page = text_of(sign_in(app.test_client(), "suzuki").get(f"/counter/figures?lang=en&from={day}&to={day}"))
    assert "No calls this day: reception to done only." in page
    assert "2 visits done in this period; 2 of them were never called" in page


def test_kept_days_give_the_same_figures_as_the_records(db, today, monkeypatch):
    rng = random.Random(2026)
    first = today - timedelta(days=6)
    for back in range(6, -1, -1):       # six ended days and today
        day = today - timedelta(days=back)
        for i in range(rng.randint(5, 25)):
            number = f"A-{i + 1:03d}"
            wait = None if rng.random() < 0.2 else rng.uniform(0, 60)
            _visit(db, day, number=number, minutes_in=rng.randint(510, 1000), wait=wait,
                   service=rng.uniform(0.5, 40), state=rng.choice([State.CONFIRMED] * 8 + [State.REJECTED]),
                   procedures=rng.sample(["juminhyo", "inkan_shomei", "zei_shomei"], rng.randint(1, 2)),
                   viewed_after=rng.uniform(0, 30) if rng.random() < 0.8 else None)
    catalogue = get_catalogue()
    cold = figures.compute(db, catalogue, first, today, today=today)
    assert db["figure_days"].count == 6          # the ended days are kept, today is not
    made = []
    real = figures.summarize_day
    monkeypatch.setattr(figures, "summarize_day", lambda *a, **k: made.append(a[2]) or real(*a, **k))
    warm = figures.compute(db, catalogue, first, today, today=today)
    assert made == [today]                       # nothing changed: only today is read from the records
    stays = [s for d in (first + timedelta(days=i) for i in range(7)) for s in figures.stays_of(db, d)]
    for which in ("total", "wait", "service"):
        exact = [getattr(s, which) for s in stays if getattr(s, which) is not None]
        for p in (50, 90):
            assert warm.stays[which].percentile(p) == cold.stays[which].percentile(p) == int(
                figures.percentile(exact, p)), (which, p)
    for cold_day, warm_day in zip(cold.days, warm.days, strict=True):
        exact = [s.total for s in figures.stays_of(db, warm_day.day) if s.total is not None]
        assert warm_day.stays["total"].median == cold_day.stays["total"].median == (
            int(figures.percentile(exact, 50)) if exact else None)
        assert warm_day.to_json() == cold_day.to_json()
    assert [p.to_json() for p in warm.procedures] == [p.to_json() for p in cold.procedures]


def test_a_change_to_an_ended_day_shows_up(db, today):
    day = today - timedelta(days=10)
    waiting = _visit(db, day, number="A-001", wait=5, state=State.PRINTED)
    at_window = _visit(db, day, number="A-002", wait=5, state=State.PRINTED)
    _visit(db, day, number="A-003", wait=None, service=15)
    catalogue = get_catalogue()
    before = figures.compute(db, catalogue, day, day, today=today)
    assert (before.confirmed, before.stays_done, before.returned) == (1, 1, 0)
    assert before.stays["wait"].counts == {5: 2}
    store = ApplicationStore(db)
    late = store.get(waiting.id)          # confirmed days later: a late confirmation
    late.transition(State.CONFIRMED, actor="clerk:sato")
    store.save(late)
    after = figures.compute(db, catalogue, day, day, today=today)
    assert (after.confirmed, after.stays_done) == (2, 2)
    assert after.stays["total"].p90 == figures.LONGEST_MINUTES      # ten days at the office: the last bin
    # A correction, a reprint of the form and a rejection, late: a return.
    fixed = store.get(at_window.id)
    fixed.set_field("postal_code", "1000002", Source.CLERK, actor="clerk:sato", reason="typo")
    fixed.note("clerk:sato", "printed", reason="reprint")
    fixed.transition(State.REJECTED, actor="clerk:sato")
    store.save(fixed)
    again = figures.compute(db, catalogue, day, day, today=today)
    juminhyo = next(p for p in again.procedures if p.procedure == "juminhyo")
    assert (juminhyo.corrections, juminhyo.reprinted, juminhyo.rejected, juminhyo.returned) == (1, 1, 1, 1)
    assert again.stays_done == 3
    # A call of that day recorded late (the calling system's log caught up): A-003 now has a wait.
    received = casework.local_day_bounds(day)[0] + timedelta(hours=9)
    with write(db):
        c = calling.call(db, "A-003", "窓口3", "clerk:sato")
        db.execute("UPDATE calls SET day = ?, called_at = ? WHERE id = ?",
                   [day.isoformat(), (received + timedelta(minutes=7)).isoformat(), c["id"]])
    called = figures.compute(db, catalogue, day, day, today=today)
    assert called.stays["wait"].counts == {5: 2, 7: 1} and called.stays_uncalled == 0


def test_returns_are_rejections_and_reprints_after_a_correction(db, today):
    day = today - timedelta(days=1)
    _visit(db, day, number="A-001", state=State.REJECTED, procedures=("juminhyo", "inkan_shomei"))
    reprinted = _visit(db, day, number="A-002", state=State.PRINTED)
    store = ApplicationStore(db)
    app = store.get(reprinted.id)
    app.note("kiosk:kiosk-1", "printed", reason="reprint")      # printed again without a correction: no return
    store.save(app)
    fig = figures.compute(db, get_catalogue(), day, day, today=today)
    counts = {p.procedure: (p.forms, p.rejected, p.reprinted, p.returned) for p in fig.procedures}
    assert counts == {"juminhyo": (2, 1, 0, 1), "inkan_shomei": (1, 1, 0, 1)}
    assert fig.returns_share == pytest.approx(2 / 3)


def test_channel_shares_per_procedure_and_office(db, today):
    day = today - timedelta(days=1)
    _visit(db, day, number="A-001", qr=True, procedures=("juminhyo", "zei_shomei"))   # a pre-registration
    _visit(db, day, number="A-002", procedures=("juminhyo",))                         # the kiosk
    _visit(db, day, number="B-001", office="minami", procedures=("juminhyo",))
    _visit(db, day, number=None, channel="counter", office="minami", procedures=("zei_shomei",))   # a clerk
    old = _visit(db, day, number="A-003", office=None, procedures=("juminhyo",))     # made before offices were kept
    fig = figures.compute(db, get_catalogue(), day, day, today=today)
    shares = {p.procedure: p.channels for p in fig.procedures}
    assert shares == {"juminhyo": {"prereg": 1, "kiosk": 3, "clerk": 0},
                      "zei_shomei": {"prereg": 1, "kiosk": 0, "clerk": 1}}
    offices = {o.office: o.channels for o in fig.office_figures}
    assert offices == {"honcho": {"prereg": 2, "kiosk": 1, "clerk": 0}, "minami": {"prereg": 0, "kiosk": 1, "clerk": 1},
                       figures.NOT_RECORDED: {"prereg": 0, "kiosk": 1, "clerk": 0}}
    assert fig.online_share == pytest.approx(2 / 6)
    assert old.id and fig.visits == 5


def test_targets_against_the_plan(db, today):
    day = today - timedelta(days=1)
    _visit(db, day, number="A-001", qr=True, wait=10, service=10)
    _visit(db, day, number="A-002", wait=20, service=20, state=State.REJECTED)
    fig = figures.compute(db, get_catalogue(), day, day, today=today)
    by_measure = {t.measure: t for t in figures.targets(fig, 0.95, stay_baseline_minutes=60,
                                                        returns_baseline_percent=0)}
    assert (by_measure["total_stay"].value, by_measure["total_stay"].target, by_measure["total_stay"].met) == (
        20, 30, True)
    assert by_measure["returns"].target is None and by_measure["returns"].met is None   # no baseline
    assert by_measure["online"].value == 50 and by_measure["online"].met is False
    assert by_measure["satisfied"].met is True


@pytest.fixture
def supervisor(app, clerks):
    return sign_in(app.test_client(), "suzuki")


def test_the_page_shows_each_figure_against_its_target_and_each_table_downloads(config, clerks, db, today,
                                                                                  tmp_path):
    from web import create_app
    app = create_app(config.replace({"counter": {"stay_baseline_minutes": 60, "returns_baseline_percent": 10}}))
    client = sign_in(app.test_client(), "suzuki")
    day = today - timedelta(days=1)
    _visit(db, day, number="A-001", qr=True, wait=10, service=12)
    _visit(db, day, number="B-001", office="minami", wait=40, service=30, state=State.REJECTED)
    r = client.get(f"/counter/figures?lang=en&from={day}&to={day}")
    page = text_of(r)
    assert r.status_code == 200
    assert "Time at the office (median stay) 22 min half the time before: 30 min or less Yes" in page
    assert "Returns per 100 forms 50.0 a fifth of the returns before (−80%): 2.0 or less Not yet" in page
    assert "Share of forms pre-registered online 50% 60% or more Not yet" in page
    assert "架空市役所 南支所" in r.get_data(as_text=True) or "South Branch" in page
    html = r.get_data(as_text=True)
    assert 'role="img"' in html and "<polyline" in html and "cdn" not in html.lower()
    for table, header in (("days", "date"), ("procedures", "procedure"), ("offices", "office"), ("ratings", "rating")):
        r = client.get(f"/counter/figures.csv?from={day}&to={day}&table={table}")
        assert r.status_code == 200 and f"-{table}-" in r.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
        assert rows[0][0] == header
    offices = list(csv.reader(io.StringIO(client.get(
        f"/counter/figures.csv?from={day}&to={day}&table=offices").get_data(as_text=True).lstrip("\ufeff"))))
    assert offices[1:] == [["honcho", "1", "1", "0", "0", "1.000"], ["minami", "1", "0", "1", "0", "0.000"]]
    days = list(csv.reader(io.StringIO(client.get(
        f"/counter/figures.csv?from={day}&to={day}&table=days").get_data(as_text=True).lstrip("\ufeff"))))
    row = dict(zip(days[0], days[1], strict=True))
    assert (row["stay_median_min"], row["wait_p90_min"], row["service_median_min"]) == ("22", "40", "12")
    assert client.get(f"/counter/figures.csv?from={day}&to={day}&table=nonsense").status_code == 400


@pytest.mark.parametrize("query, words", [
    ("from=2026-03-01&to=2026-01-01", "The first day must not be after the last day."),
    ("from=2020-01-01&to=2026-01-01", "Choose at most 366 days."),
    ("from=yesterday", "Enter dates as YYYY-MM-DD."),
    ("from=2026-02-30", "Enter dates as YYYY-MM-DD."),
])
def test_hostile_ranges_are_words_not_errors(supervisor, query, words):
    r = supervisor.get(f"/counter/figures?lang=en&{query}")
    assert r.status_code == 400 and words in text_of(r)
    assert supervisor.get(f"/counter/figures.csv?{query}").status_code == 400


def test_only_supervisors_see_the_figures(app, clerks):
    assert sign_in(app.test_client(), "sato").get("/counter/figures.csv?table=days").status_code == 403


def test_a_long_period_has_a_row_per_month_with_the_same_figures(db, today):
    rng = random.Random(7)
    start = (today.replace(day=1) - timedelta(days=70)).replace(day=1) + timedelta(days=3)   # a month begun
    days = [start + timedelta(days=i) for i in range(0, (today - start).days + 1, 9)]
    made = {}
    for day in days:
        made[day] = [_visit(db, day, number=f"A-{i + 1:03d}", wait=rng.uniform(0, 50), service=rng.uniform(1, 30),
                            state=State.PRINTED if i == 0 else State.CONFIRMED) for i in range(3)]
    catalogue = get_catalogue()
    per_day = figures.compute(db, catalogue, start, today, today=today, per_day=True)
    by_month = figures.compute(db, catalogue, start, today, today=today)
    assert by_month.by_month and not per_day.by_month and len(by_month.rows) == len(
        {d.day.replace(day=1) for d in per_day.days})
    assert db["figure_months"].count >= 1        # the whole ended month in between is kept
    again = figures.compute(db, catalogue, start, today, today=today)
    for fig in (by_month, again):
        assert fig.to_json() == per_day.to_json()
        assert fig.daily == per_day.daily
        for which in ("total", "wait", "service"):
            assert fig.stays[which].p90 == per_day.stays[which].p90
    # A late confirmation on a day of the kept month reaches the month's row.
    inside = next(d for d in days if d.month != start.month and d.month != today.month)
    before = next(r for r in again.rows if r.day.month == inside.month)
    assert before.stays_done == sum(1 for d in days if d.month == inside.month) * 2
    store = ApplicationStore(db)
    app = store.get(made[inside][0].id)
    app.transition(State.CONFIRMED, actor="clerk:sato")
    store.save(app)
    later = figures.compute(db, catalogue, start, today, today=today)
    month = next(r for r in later.rows if r.day.month == inside.month)
    assert (month.stays_done, month.confirmed) == (before.stays_done + 1, before.confirmed + 1)


def test_kept_days_follow_a_change_of_a_procedures_items_only(db, today):
    day = today - timedelta(days=1)
    _visit(db, day, number="A-001")
    catalogue = get_catalogue()
    figures.compute(db, catalogue, day, day, today=today)
    basis = db.execute("SELECT basis FROM figure_days").fetchone()[0]

    class Edited:
        """The same procedures, another version (a saved layout), or juminhyo without its last item."""
        def __init__(self, drop):
            self.procedures, self.version, self.drop = catalogue.procedures, "another", drop

        def fields_for(self, ids):
            found = catalogue.fields_for(ids)
            return found[:-1] if self.drop and ids == ["juminhyo"] else found

    assert figures._basis(catalogue) == figures._basis(Edited(drop=False)) == basis
    assert figures._basis(Edited(drop=True)) != basis


def test_ended_days_are_kept_ahead_of_the_first_look(db, today, monkeypatch):
    for back in (3, 40, 200):
        _visit(db, today - timedelta(days=back), number="A-001", wait=4)
    catalogue = get_catalogue()
    figures.keep_ended_days(db, catalogue, today=today)
    assert db["figure_days"].count == figures.KEEP_DAYS
    assert db["figure_months"].count >= 11
    made = []
    real = figures.summarize_day
    monkeypatch.setattr(figures, "summarize_day", lambda *a, **k: made.append(a[2]) or real(*a, **k))
    year = figures.compute(db, catalogue, today - timedelta(days=365), today, today=today)
    assert made == [today] and year.visits == 3 and year.stays["wait"].counts == {4: 3}


def test_the_server_keeps_them_in_the_background(app, db, monkeypatch):
    import time
    assert figures.start_service in app.extensions["madoguchi.services"]
    monkeypatch.setattr(figures, "KEEP_FIRST_AFTER_SECONDS", 0.0)
    stop = figures.start_service(app)
    try:
        deadline = time.monotonic() + 60
        while db["figure_days"].count < figures.KEEP_DAYS and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop()
    assert db["figure_days"].count == figures.KEEP_DAYS
