"""Exactly once through real processes: `madoguchi forward` against `madoguchi backend-sim`
that is down for a while, misbehaves, or whose sender is killed with SIGKILL mid-send."""
from __future__ import annotations

import collections
import json
import time

import requests

from core import exchange_log as xlog
from core.application import State
from core.store.applications import ApplicationStore
from tests.fixtures_forwarding import confirmed_applications, forward_entries, outbox_rows, push_config_file, wait_for


def delivered_count(db) -> int:
    return db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'delivered'").fetchone()[0]


def assert_exactly_once(db, sim, apps):
    """Every record stored once by the backend, each application forwarded with one ok entry."""
    rows = outbox_rows(db)
    assert all(r["state"] == "delivered" for r in rows)
    stored = sim.stored_keys()
    assert sorted(stored) == sorted(r["idempotency_key"] for r in rows)  # all there, none twice
    # A resend carries the very same bytes as the first send.
    digests = collections.defaultdict(set)
    for key, sha, outcome in sim.receipts():
        if outcome in ("stored", "duplicate"):
            digests[key].add(sha)
    assert all(len(v) == 1 for v in digests.values())
    ok = collections.Counter(e["application_id"] for e in forward_entries(db, "ok"))
    assert ok == {a.id: 1 for a in apps}
    store = ApplicationStore(db)
    assert all(store.get(a.id).state is State.FORWARDED for a in apps)
    assert xlog.verify(db).ok


def test_backend_down_for_a_while_then_back_delivers_everything_once(db, tmp_path, overrides, backend_sim,
                                                                   forward_process):
    sim = backend_sim(start=False)  # not running yet: connections are refused
    config_file = push_config_file(tmp_path, overrides(), sim.url)
    apps = confirmed_applications(db, 12)
    worker = forward_process(config_file)
    # The worker keeps trying, backing off, and loses nothing meanwhile.
    wait_for(lambda: all((r["attempts"] or 0) >= 2 for r in outbox_rows(db)), 20, what="retries while down")
    assert delivered_count(db) == 0
    assert {r["last_error"] for r in outbox_rows(db)} == {"connection_refused"}
    assert ApplicationStore(db).get(apps[0].id).state is State.CONFIRMED
    sim.start()
    back = time.monotonic()
    wait_for(lambda: delivered_count(db) == 12, 20, what="delivery after the backend came back")
    recovery = time.monotonic() - back
    assert recovery < 5  # backoff_max_seconds is 0.4 in the test config
    assert_exactly_once(db, sim, apps)
    assert len(sim.receipts()) == 12  # refused connections never reached it; no resends needed
    worker.stop()
    assert worker.proc.returncode == 0  # SIGTERM stops it cleanly


def test_a_misbehaving_backend_still_gets_everything_exactly_once(db, tmp_path, overrides, backend_sim,
                                                                 forward_process):
    sim = backend_sim("--fail-rate", "0.5", "--failures", "500,drop,slow,timeout", "--seed", "3",
                      "--hang-seconds", "1.5", "--slow-seconds", "1.0")
    config_file = push_config_file(tmp_path, overrides(), sim.url, timeout_seconds=0.5)
    apps = confirmed_applications(db, 25)
    worker = forward_process(config_file)
    wait_for(lambda: delivered_count(db) == 25, 90, 0.1, "every record despite failures")
    outcomes = collections.Counter(o for _, _, o in sim.receipts())
    # The dice did their job: failures of each kind happened, and dropped/slow answers made resends.
    assert outcomes["injected_500"] and outcomes["injected_drop"] and outcomes["duplicate"]
    assert_exactly_once(db, sim, apps)
    assert forward_entries(db, "failed")  # the failed transfers are in the log too
    worker.stop()


def test_kill_9_mid_send_loses_nothing_and_duplicates_nothing(db, tmp_path, overrides, backend_sim, forward_process):
    # Each send takes long enough that the kill lands while one is in flight, on a loaded machine too.
    sim = backend_sim("--latency", "1200")
    config_file = push_config_file(tmp_path, overrides(), sim.url)
    apps = confirmed_applications(db, 8)
    worker = forward_process(config_file)
    wait_for(lambda: len(sim.stored_keys()) >= 2, 30, what="the first deliveries")

    def in_flight():
        rows = [r for r in outbox_rows(db) if r["state"] == "pending" and r["lease_owner"]]
        return rows[0] if rows else None
    row = wait_for(in_flight, 10, 0.01, "a send in flight")
    worker.kill9()
    assert worker.proc.returncode == -9
    # The killed worker's record is still pending (the backend may or may not have it).
    assert [r["state"] for r in outbox_rows(db) if r["id"] == row["id"]] == ["pending"]
    assert delivered_count(db) < 8
    restarted = forward_process(config_file)
    # Resent at once (the dead worker's lease is released), not after the lease runs out.
    wait_for(lambda: delivered_count(db) == 8, 20, what="delivery after the restart")
    assert_exactly_once(db, sim, apps)
    times = {r["idempotency_key"]: r["times_received"] for r in sim.records()}
    assert set(times.values()) <= {1, 2} and times[row["idempotency_key"]] in (1, 2)
    restarted.stop()


def test_serve_runs_the_worker_and_stops_it_cleanly(db, config, live_server):
    server = live_server("counter")
    apps = confirmed_applications(db, 2)
    folder = config.path(config.backend.folder)
    store = ApplicationStore(db)
    # The file is written first, then the delivery commits: wait for the commit.
    wait_for(lambda: all(store.get(a.id).state is State.FORWARDED for a in apps), 15, what="the serve worker")
    assert len(list(folder.glob("*.jsonl"))) == 2
    # Health of the web side is unaffected.
    assert requests.get(server.url + "/healthz", timeout=5).json()["ok"] is True
    server.stop()
    assert server.proc.returncode == 0


def test_backend_sim_answers_duplicates_and_refuses_bad_records(backend_sim):
    sim = backend_sim()
    doc = {"schema": "madoguchi.record/3", "idempotency_key": "K-v1", "data": {}}
    body = json.dumps(doc)
    first = requests.post(sim.url, data=body, headers={"Idempotency-Key": "K-v1"}, timeout=5)
    again = requests.post(sim.url, data=body, headers={"Idempotency-Key": "K-v1"}, timeout=5)
    assert (first.status_code, first.json()["status"]) == (200, "stored")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    no_key = requests.post(sim.url, data=body, timeout=5)
    wrong_schema = requests.post(sim.url, data=json.dumps({**doc, "schema": "x"}),
                                 headers={"Idempotency-Key": "K-v1"}, timeout=5)
    assert no_key.status_code == 400 and wrong_schema.status_code == 400
    stats = requests.get(sim.base + "/stats", timeout=5).json()
    assert stats["stored"] == 1 and stats["duplicates"] == 1
    assert sim.records()[0]["times_received"] == 2
