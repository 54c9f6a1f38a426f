"""Clerk screens under a big city's load: how long the pages a clerk waits for take.

Builds a database with VISITS_PER_DAY visits a day for DAYS days (each: created, printed,
viewed by a clerk, most confirmed, some corrected, with their exchange-log entries), then
times, through the real Flask app:
- opening a form by its scanned code (POST /counter/open → the detail page),
- the detail page itself (audit trail, values as printed, exchange-log entry written),
- today's queue, the figures for 30 days, a person's log and its PDF.

With --year it builds instead a year of a mid-size city (365 days of about 1,000 visits, each
with one to four procedures: pre-registered, at the kiosk or at the counter, two offices, calls,
confirmations, some rejections, corrections and reprints, ratings), loaded in bulk through the
owners' import functions (ApplicationStore.import_rows, exchange_log.import_entries: chained, it
verifies), and times the
figures page for the whole year (target: 300 ms warm): the first load (every ended day
summarized), warm loads, and a load after a change to an ended day.

    .venv/bin/python bench/counter.py [--visits-per-day 1000] [--days 30]
    .venv/bin/python bench/counter.py --year [--visits-per-day 1000]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import exchange_log as xlog  # noqa: E402
from core import users  # noqa: E402
from core.application import Application, Source, State, form_code, iso  # noqa: E402
from core.config import load_config  # noqa: E402
from core.store.applications import ApplicationStore  # noqa: E402
from core.store.db import open_from_config, write  # noqa: E402
from counter import casework  # noqa: E402

FORMS = [
    (["juminhyo"], {"juminhyo_scope": "self", "juminhyo_copies": 1, "juminhyo_purpose": "pension"}),
    (["inkan_shomei"], {"inkan_card_number": "A-102938", "inkan_shomei_copies": 1}),
    (["juminido"], {"move_type": "tennyu", "move_date": "2026-11-01", "previous_postal_code": "0600000",
                    "previous_address": "北海道札幌市中央区北１条西２丁目", "relationship_to_head": "head",
                    "nationality_kind": "japanese", "notifier_type": "self"}),
]
FAMILY = "佐藤鈴木高橋田中伊藤渡辺山本中村小林加藤"
GIVEN = "太郎花子一郎美咲健一翔太陽菜結衣大輔"


def build(db, config, visits_per_day: int, days: int) -> list[str]:
    rng = random.Random(7)
    store = ApplicationStore(db)
    today_start, _ = casework.local_day_bounds(casework.today())
    ids = []
    for day in range(days):
        start = today_start - timedelta(days=days - 1 - day)
        with write(db):
            for i in range(visits_per_day):
                procedures, extra = rng.choice(FORMS)
                name = f"{FAMILY[rng.randrange(10) * 2:][:2]}\u3000{GIVEN[rng.randrange(9) * 2:][:2]}"
                birth = f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                data = {"name": name, "kana": "ヤマダ\u3000タロウ", "birth_date": birth, "sex": "male",
                        "postal_code": "1000001", "address": "東京都千代田区千代田１－１", **extra}
                app = Application.create(procedures, data, Source.CARD, actor="kiosk:kiosk-1", channel="kiosk")
                app.transition(State.SUBMITTED, actor="kiosk:kiosk-1")
                app.transition(State.PRINTED, actor="kiosk:kiosk-1")
                app.reception_number = str(i + 1)
                if rng.random() < 0.2:
                    app.set_field("postal_code", "1000002", Source.CLERK, actor="clerk:sato", reason="typo")
                if day < days - 1 or rng.random() < 0.6:
                    app.transition(State.CONFIRMED, actor="clerk:sato")
                t = start + timedelta(hours=8, seconds=i * 30)
                app.created_at = app.updated_at = t
                for n, ev in enumerate(app.pending_events):
                    ev.at = t + timedelta(minutes=n * 3)
                store.save(app)
                for purpose in ("card_read", "print", "clerk_view"):
                    xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="mynumber_card", purpose=purpose,
                                application_id=app.id, payload=data, person=xlog.Person(name, birth))
                ids.append(app.id)
    return ids


YEAR_PROCEDURES = ["juminhyo", "juminhyo", "juminhyo", "inkan_shomei", "inkan_shomei", "zei_shomei", "juminido",
                   "kokuho_shutoku", "jido_teate", "inu_toroku", "koseki_shomei", "nenkin"]
CORRECTED_FIELDS = ["postal_code", "address", "phone", "juminhyo_copies", "move_date", "name"]


def build_year(db, visits_per_day: int, days: int = 365) -> int:
    """A year of visits ending today, written straight into the tables; returns the applications."""
    import json
    import secrets

    from core.application import new_application_id
    rng = random.Random(365)
    today = casework.today()
    now = casework.utcnow()
    made = 0
    data = json.dumps({"name": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ", "birth_date": "1985-04-01",
                       "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－１"},
                      ensure_ascii=False)
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        start, _ = casework.local_day_bounds(day)
        uses_calls = rng.random() < 0.9          # some days the calling system was not used
        apps, events, views, calls, ratings = [], [], [], [], []
        for i in range(int(visits_per_day * rng.uniform(0.8, 1.2))):
            created = start + timedelta(hours=8, minutes=30) + timedelta(seconds=rng.uniform(0, 8.5 * 3600))
            if created > now:
                break
            kind = rng.random()
            # 35% pre-registered (shown at the kiosk), 50% at the kiosk, 15% at the counter
            channel, from_qr = ("kiosk", kind < 0.35) if kind < 0.85 else ("counter", False)
            office = "minami" if rng.random() < 0.2 else "honcho"
            number = f"{'B' if office == 'minami' else 'A'}-{i + 1:03d}" if channel == "kiosk" else None
            procs = list(dict.fromkeys(rng.choice(YEAR_PROCEDURES) for _ in range(rng.choice((1, 1, 2, 2, 3, 4)))))
            wait = timedelta(minutes=rng.lognormvariate(2.6, 0.6))
            called = created + wait
            service = timedelta(minutes=rng.lognormvariate(2.3, 0.5))
            decided = called + service
            app_id = new_application_id()
            sources = {"name": "qr" if from_qr else "card", "address": "qr" if from_qr else "typed"}
            trail = [("kiosk:kiosk-1", "created", None, {"procedures": procs, "channel": channel, "office": office},
                      created), ("kiosk:kiosk-1", "state", None, "submitted", created),
                     ("kiosk:kiosk-1", "state", None, "printed", created), ("kiosk:kiosk-1", "printed", None,
                                                                          {"queue": "pdf", "job_id": "1"}, created)]
            if rng.random() < 0.15:
                fix_at = called + service / 2
                trail.append(("clerk:sato", "field", rng.choice(CORRECTED_FIELDS), "x", fix_at))
                if rng.random() < 0.3:
                    trail.append(("clerk:sato", "printed", None, {"queue": "pdf", "job_id": "2"}, fix_at))
            state = "printed"
            if decided < now:
                fate = rng.random()
                state = "confirmed" if fate < 0.95 else "rejected" if fate < 0.98 else "cancelled"
                trail.append(("clerk:sato", "state", None, state, decided))
            apps.append((app_id, state, json.dumps(procs), data, json.dumps(sources), channel, number,
                         created.isoformat(), (trail[-1][4]).isoformat(), len(trail)))
            events += [(app_id, at.isoformat(), actor, kind_, field_, None, json.dumps(new, ensure_ascii=False), None)
                       for actor, kind_, field_, new, at in trail]
            if called < now:
                views.append({"at": (called + timedelta(minutes=1)).isoformat(), "actor": "clerk:sato",
                              "counterparty": "clerk:sato", "purpose": "clerk_view", "application_id": app_id})
                if uses_calls and number:
                    calls.append((day.isoformat(), office, number, "窓口3", called.isoformat(), "clerk:sato"))
            if rng.random() < 0.3:
                ratings.append((secrets.token_hex(12), day.isoformat(), "kiosk", office,
                                rng.choices((5, 4, 3, 2, 1), (50, 38, 7, 3, 2))[0], ""))
        with write(db):
            ApplicationStore(db).import_rows(apps, events)
            xlog.import_entries(db, views)
            db.conn.executemany("INSERT INTO calls (day, office, reception_number, window, called_at, called_by)"
                                " VALUES (?,?,?,?,?,?)", calls)
            db.conn.executemany("INSERT INTO ratings (id, day, channel, office, score, comment) VALUES (?,?,?,?,?,?)",
                                ratings)
        made += len(apps)
    return made


def signed_in_supervisor(db, config):
    """A test client of the counter surface, signed in as the supervisor sato (CSRF token "bench")."""
    from web import create_app
    users.add_user(db, "sato", "bench password 1", "supervisor")
    client = create_app(config, "counter").test_client()
    with client.session_transaction() as s:
        s["_csrf"] = "bench"
    r = client.post("/counter/sign-in",
                    data={"csrf_token": "bench", "username": "sato", "password": "bench password 1"})
    assert r.status_code == 302
    with client.session_transaction() as s:
        s["_csrf"] = "bench"
    return client


def bench_year(db, config, tmp: Path, visits_per_day: int) -> None:
    import resource
    t0 = time.perf_counter()
    made = build_year(db, visits_per_day)
    built = time.perf_counter() - t0
    size_mb = (tmp / "madoguchi.db").stat().st_size / 1e6
    print(f"database: {made} applications over 365 days, {ApplicationStore(db).last_event_id()} audit events, "
          f"{db['calls'].count} calls, {db['ratings'].count} ratings, {size_mb:.0f} MB (built in {built:.0f} s)")
    client = signed_in_supervisor(db, config)
    today = casework.today()
    year = f"/counter/figures?from={today - timedelta(days=364)}&to={today}"

    def page():
        r = client.get(year)
        assert r.status_code == 200, r.status_code
        return r

    t0 = time.perf_counter()
    page()
    print(f"figures for the year, first load (every ended day summarized): {(time.perf_counter() - t0) * 1000:.0f} ms")
    samples = []
    for _ in range(20):
        t0 = time.perf_counter()
        r = page()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    print(f"figures for the year, warm: p50 {statistics.median(samples):.0f} ms, "
          f"p95 {samples[int(len(samples) * 0.95) - 1]:.0f} ms (target 300 ms; page {len(r.data) // 1024} KB)")
    t0 = time.perf_counter()
    assert client.get(year.replace("figures?", "figures.csv?")).status_code == 200
    print(f"the year's CSV, warm: {(time.perf_counter() - t0) * 1000:.0f} ms")
    # A late rejection of an application of a month ago: that day alone is summarized again.
    store = ApplicationStore(db)
    first, last = casework.local_day_bounds(today - timedelta(days=30))
    late = store.get(store.summaries_between(first, last)[0]["id"])
    late.note("clerk:sato", "printed", reason="reprint")
    store.save(late)
    t0 = time.perf_counter()
    page()
    print(f"figures for the year after a change to a day a month ago: {(time.perf_counter() - t0) * 1000:.0f} ms")
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"(at {iso(casework.utcnow())}; the database is in {tmp})")


def timed(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.9) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits-per-day", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--year", action="store_true", help="a year of visits; time the figures page for it")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="madoguchi-bench-counter-"))
    config = load_config(ROOT / "config.toml", base_dir=tmp, overrides={
        "storage": {"path": str(tmp / "madoguchi.db")}, "keys": {"dir": str(tmp / "keys")}})
    db = open_from_config(config)
    if args.year:
        bench_year(db, config, tmp, args.visits_per_day)
        return
    t0 = time.perf_counter()
    ids = build(db, config, args.visits_per_day, args.days)
    built = time.perf_counter() - t0
    size_mb = (tmp / "madoguchi.db").stat().st_size / 1e6
    print(f"database: {len(ids)} applications over {args.days} days, {xlog.head(db)['seq']} log entries, "
          f"{size_mb:.0f} MB (built in {built:.0f} s)")
    client = signed_in_supervisor(db, config)
    rng = random.Random(1)
    todays = ids[-args.visits_per_day:]

    def open_by_code():
        r = client.post("/counter/open", data={"csrf_token": "bench", "code": form_code(rng.choice(todays))},
                        follow_redirects=True)
        assert r.status_code == 200

    def detail():
        assert client.get(f"/counter/applications/{rng.choice(ids)}").status_code == 200

    def queue():
        assert client.get("/counter/").status_code == 200

    def figures():
        assert client.get("/counter/figures").status_code == 200

    first = ApplicationStore(db).get(ids[0]).data
    name, birth = first["name"], first["birth_date"]

    def person_log():
        r = client.post("/counter/exchange-log/person", data={"csrf_token": "bench", "name": name, "birth_date": birth})
        assert r.status_code == 200

    def person_log_pdf():
        r = client.post("/counter/exchange-log/person/print",
                        data={"csrf_token": "bench", "name": name, "birth_date": birth})
        assert r.status_code == 200

    print(f"{'page':<44}{'median ms':>10}{'p90 ms':>10}")
    for label, fn, repeat in [
        ("scan a form code → detail page", open_by_code, 50),
        ("detail page", detail, 50),
        (f"today's queue ({args.visits_per_day} visits)", queue, 10),
        (f"figures, 30 days ({min(30, args.days) * args.visits_per_day} visits)", figures, 3),
        ("a person's exchange log", person_log, 10),
        ("a person's exchange log as PDF", person_log_pdf, 5),
    ]:
        med, p90 = timed(fn, repeat)
        print(f"{label:<44}{med:>10.1f}{p90:>10.1f}")
    print(f"(at {iso(casework.utcnow())}; the database is in {tmp})")


if __name__ == "__main__":
    main()
