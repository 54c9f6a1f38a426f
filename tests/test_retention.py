"""`madoguchi purge-personal` (core.retention): finished applications lose their personal data
after [retention].personal_data_days; the exchange log and the figures stay."""
from __future__ import annotations

import json
import time
from datetime import timedelta

from core import exchange_log as xlog
from core import outbox
from core.application import State, iso, utcnow
from core.catalogue import get_catalogue
from core.clock import today_in_japan
from core.retention import RetentionNotSet, purge_personal
from core.store.applications import ApplicationStore
from core.store.db import write
from counter import figures
from tests.fixtures_counter import MOVE_IN, kiosk_application, sign_in, text_of

LATER = timedelta(days=31)


def stored(db, app_id):
    return ApplicationStore(db).get(app_id)


def everything_of(db, app_id) -> str:
    """Every value kept about an application, as text: its row, audit events and outbox rows."""
    app = stored(db, app_id)
    events = [(e.kind, e.field, e.old, e.new, e.reason) for e in ApplicationStore(db).events(app_id)]
    records = [outbox.by_idempotency_key(db, r["idempotency_key"])["record"] for r in outbox.failed(db)]
    latest = outbox.latest_for(db, app_id)
    if latest:
        records.append(outbox.by_idempotency_key(db, latest["idempotency_key"])["record"])
    return json.dumps([app.data, app.sources, events, records], ensure_ascii=False)


def test_finished_applications_lose_their_personal_data_and_keep_what_is_counted(config, db, live_office):
    store = ApplicationStore(db)
    forwarded = [a.id for a in store.list() if a.state is State.FORWARDED]
    rejected, confirmed = live_office["rejected"], live_office["confirmed"]
    still_open = kiosk_application(db, MOVE_IN, reception="14").id
    assert forwarded and "髙橋" in everything_of(db, rejected) and "wrong office" in everything_of(db, rejected)
    name_of = {app_id: stored(db, app_id).data["name"] for app_id in forwarded}
    entries_before = list(xlog.entries(db))
    today = today_in_japan()
    figures_before = figures.compute(db, get_catalogue(), today - timedelta(days=1), today)

    report = purge_personal(db, config, days=30, now=utcnow() + LATER)

    assert report.applications == len(forwarded) + 1 and report.records == len(forwarded)
    for app_id in [*forwarded, rejected]:
        app, kept = stored(db, app_id), everything_of(db, app_id)
        assert app.data == {} and app.sources == {}
        assert name_of.get(app_id, "髙橋") not in kept and "東京都" not in kept and "wrong office" not in kept
        kinds = [e.kind for e in store.events(app_id)]
        assert kinds[0] == "created" and kinds[-1] == "purged"
        assert [e.new for e in store.events(app_id) if e.kind == "state"][-1] == str(app.state)
    delivered = outbox.by_idempotency_key(db, outbox.latest_for(db, forwarded[0])["idempotency_key"])
    assert delivered["state"] == "delivered" and json.loads(delivered["record"])["application_id"] == forwarded[0]
    # Open and confirmed-but-not-forwarded applications are the office's work: untouched.
    assert stored(db, still_open).data["name"] == MOVE_IN["name"]
    assert stored(db, confirmed).data["phone"] == "03-9999-0000"
    # The log still verifies and has every entry; the figures count the same.
    assert list(xlog.entries(db)) == entries_before and xlog.verify(db).ok
    assert figures.compute(db, get_catalogue(), today - timedelta(days=1), today) == figures_before
    # Done once: a second run finds nothing.
    assert purge_personal(db, config, days=30, now=utcnow() + LATER).applications == 0


def test_recent_applications_are_kept(config, db, live_office):
    assert purge_personal(db, config, days=30).applications == 0
    assert stored(db, live_office["rejected"]).data["name"]


def test_a_dry_run_counts_and_changes_nothing(config, db, live_office):
    before = everything_of(db, live_office["rejected"])
    report = purge_personal(db, config, days=30, dry_run=True, now=utcnow() + LATER)
    assert report.dry_run and report.applications == 4
    assert everything_of(db, live_office["rejected"]) == before


def test_without_a_setting_nothing_is_guessed(config, db, live_office):
    try:
        purge_personal(db, config, now=utcnow() + timedelta(days=10000))
    except RetentionNotSet as e:
        assert "personal_data_days" in str(e)
    else:
        raise AssertionError("purged without [retention].personal_data_days")
    assert stored(db, live_office["rejected"]).data["name"]


def test_the_command_and_the_clerks_view_of_a_purged_application(config, db, live_office, runner, app):
    result = runner.invoke("purge-personal")
    assert result.exit_code == 1 and "personal_data_days" in result.output and "Traceback" not in result.output
    result = runner.invoke("purge-personal", "--days", "1", "--dry-run")
    assert result.exit_code == 0 and "would purge the personal data of 0 applications" in result.output
    purge_personal(db, config, days=30, now=utcnow() + LATER)
    client = sign_in(app.test_client(), "suzuki")
    page = client.get(f"/counter/applications/{live_office['rejected']}")
    assert page.status_code == 200
    assert "個人情報を削除しました" in text_of(page) and "髙橋" not in text_of(page)
    assert client.get("/counter/figures").status_code == 200


def test_serve_purges_on_a_timer_once_the_days_are_set(config, db, live_office):
    """The office server's service purges at once, then every interval; without the setting it
    touches nothing."""
    from core.retention import purge_on_schedule
    from counter.blueprint import start_retention_timer
    from web import create_app

    rejected = live_office["rejected"]
    assert purge_on_schedule(config) is None and stored(db, rejected).data["name"]
    with write(db):     # it finished a year ago
        db.execute("UPDATE applications SET updated_at = ? WHERE id = ?",
                   [iso(utcnow() - timedelta(days=365)), rejected])
    app = create_app(config.replace({"retention": {"personal_data_days": 30}}), "counter")
    assert start_retention_timer in app.extensions["madoguchi.services"]
    stop = start_retention_timer(app)
    try:
        deadline = time.monotonic() + 5
        while stored(db, rejected).data and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(db, rejected).data == {}
    finally:
        stop()
    assert stored(db, live_office["confirmed"]).data
