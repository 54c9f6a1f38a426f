"""Clerk screens under a big city's load: how long the pages a clerk waits for take.

Builds a database with VISITS_PER_DAY visits a day for DAYS days (each: created, printed,
viewed by a clerk, most confirmed, some corrected, with their exchange-log entries), then
times, through the real Flask app:
- opening a form by its scanned code (POST /counter/open → the detail page),
- the detail page itself (audit trail, values as printed, exchange-log entry written),
- today's queue, the figures for 30 days, a person's log and its PDF.

    .venv/bin/python bench/counter.py [--visits-per-day 1000] [--days 30]
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
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="madoguchi-bench-counter-"))
    config = load_config(ROOT / "config.toml", base_dir=tmp, overrides={
        "storage": {"path": str(tmp / "madoguchi.db")}, "keys": {"dir": str(tmp / "keys")}})
    db = open_from_config(config)
    t0 = time.perf_counter()
    ids = build(db, config, args.visits_per_day, args.days)
    built = time.perf_counter() - t0
    users.add_user(db, "sato", "bench password 1", "supervisor")
    size_mb = (tmp / "madoguchi.db").stat().st_size / 1e6
    print(f"database: {len(ids)} applications over {args.days} days, {xlog.head(db)['seq']} log entries, "
          f"{size_mb:.0f} MB (built in {built:.0f} s)")

    from web import create_app
    app = create_app(config, "counter")
    client = app.test_client()
    with client.session_transaction() as s:
        s["_csrf"] = "bench"
    r = client.post("/counter/sign-in",
                    data={"csrf_token": "bench", "username": "sato", "password": "bench password 1"})
    assert r.status_code == 302
    with client.session_transaction() as s:
        s["_csrf"] = "bench"
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
