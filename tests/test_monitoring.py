"""What an operator watches: /healthz's checks, /metrics, request ids and structured logs."""
from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
import requests

from core import metrics
from core.application import Application, iso, utcnow
from core.store.db import open_from_config, write
from tests.helpers import write_config
from tests.kiosk_helpers import Kiosk


def sample(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------- /healthz

def test_healthz_lists_each_check_and_is_ok_on_the_demo(client):
    body = client.get("/healthz").get_json()
    assert body["ok"] is True and body["status"] == "ok"
    assert set(body["checks"]) == {"database", "printer", "reader", "outbox"}
    assert body["checks"]["printer"] == {"ok": True, "state": "idle", "queue": "pdf-folder"}
    assert body["checks"]["reader"] == {"ok": True, "state": "ready"}
    assert body["checks"]["outbox"] == {"ok": True, "pending": 0, "failed": 0, "oldest_pending_age_seconds": None}


def test_a_print_folder_that_cannot_be_written_makes_it_degraded_not_down(app, client, config):
    # A file where the folder should be (as root, a folder's mode would stop nothing).
    folder = config.path(config.devices.pdf_folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        folder.rmdir()
    folder.write_text("not a folder")
    r = client.get("/healthz")
    body = r.get_json()
    assert r.status_code == 200 and body["ok"] is False and body["status"] == "degraded"
    assert body["checks"]["printer"] == {"ok": False, "state": "offline", "queue": "pdf-folder"}


def _queue_record(db, created_minutes_ago: float, state: str = "pending") -> None:
    app = Application.create(["juminhyo"], {"name": "山田 太郎"}, source="typed", actor="test", channel="counter")
    created = iso(utcnow() - timedelta(minutes=created_minutes_ago))
    with write(db):
        db.execute("INSERT INTO outbox (application_id, idempotency_key, record, state, attempts, next_attempt_at,"
                   " created_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
                   [app.id, f"{app.id}:1", "{}", state, created, created])


def test_a_record_waiting_too_long_for_the_core_system_makes_it_degraded(app, client, config):
    db = open_from_config(config)
    try:
        _queue_record(db, created_minutes_ago=config.monitoring.outbox_max_age_minutes - 5)
        fresh = client.get("/healthz").get_json()
        assert fresh["checks"]["outbox"]["ok"] is True and fresh["checks"]["outbox"]["pending"] == 1
        _queue_record(db, created_minutes_ago=config.monitoring.outbox_max_age_minutes + 5)
    finally:
        db.conn.close()
    old = client.get("/healthz").get_json()
    assert old["status"] == "degraded"
    outbox_check = old["checks"]["outbox"]
    assert outbox_check["ok"] is False and outbox_check["pending"] == 2
    assert outbox_check["oldest_pending_age_seconds"] >= (config.monitoring.outbox_max_age_minutes + 5) * 60 - 5


def test_a_record_given_up_on_makes_it_degraded(app, client, config):
    db = open_from_config(config)
    try:
        _queue_record(db, created_minutes_ago=1, state="failed")
    finally:
        db.conn.close()
    body = client.get("/healthz").get_json()
    assert body["checks"]["outbox"] == {"ok": False, "pending": 0, "failed": 1, "oldest_pending_age_seconds": None}


def test_the_reader_check_uses_pcscd_and_names_a_missing_reader(config, pcsc_stack):
    from hardware.cards import reader_status
    assert reader_status(config.replace({"devices": {"card_reader": "pcsc"}})) == "ready"
    missing = config.replace({"devices": {"card_reader": "pcsc", "card_reader_name": "No Such Reader 9000"}})
    assert reader_status(missing) == "no_reader"


def test_a_failing_check_is_reported_without_its_message(app, client):
    def broken():
        raise RuntimeError("山田 太郎 is in this message")
    app.extensions["madoguchi.health_checks"]["broken"] = broken
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["checks"]["broken"] == {"ok": False, "error": "RuntimeError"}
    assert "山田" not in r.get_data(as_text=True)


# ---------------------------------------------------------------- /metrics

def test_metrics_answer_only_the_allowed_networks(client):
    assert client.get("/metrics").status_code == 200     # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "not an address"}).status_code == 404


def test_the_allowed_networks_come_from_the_config(config):
    from web import create_app
    app = create_app(config.replace({"monitoring": {"metrics_allowed_from": ["10.0.0.0/8"]}}))
    c = app.test_client()
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200
    assert c.get("/metrics").status_code == 404


def test_a_bad_network_in_the_config_is_refused_by_name(config):
    from core.errors import ConfigError
    with pytest.raises(ConfigError) as e:
        config.replace({"monitoring": {"metrics_allowed_from": ["the office"]}})
    assert e.value.details["key"] == "monitoring.metrics_allowed_from"


def test_metrics_count_requests_and_show_the_outbox(app, client, config):
    before = sample("madoguchi_http_requests_total", surface="prereg", method="GET", status="2xx")
    client.get("/prereg/")
    client.get("/prereg/")
    assert sample("madoguchi_http_requests_total", surface="prereg", method="GET", status="2xx") == before + 2
    db = open_from_config(config)
    try:
        _queue_record(db, created_minutes_ago=3)
    finally:
        db.conn.close()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'madoguchi_outbox_records{state="pending"} 1.0' in text
    age = next(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("madoguchi_outbox_oldest_pending_age_seconds "))
    assert 170 <= age <= 240
    assert "madoguchi_http_request_duration_seconds_bucket" in text


def test_metrics_count_prints_and_card_reads_by_result_and_hold_no_personal_data(app):
    kiosk = Kiosk(app)
    reads_ok = sample("madoguchi_card_reads_total", card="mynumber", result="ok")
    wrong = sample("madoguchi_card_reads_total", card="mynumber", result="wrong_pin")
    prints_ok = sample("madoguchi_prints_total", result="ok")
    kiosk.start()
    kiosk.read_card(pin="9999")
    assert sample("madoguchi_card_reads_total", card="mynumber", result="wrong_pin") == wrong + 1
    kiosk.post("/kiosk/card/pin", {"pin": "1234"})
    assert sample("madoguchi_card_reads_total", card="mynumber", result="ok") == reads_ok + 1
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    kiosk.print_and_wait()
    assert sample("madoguchi_prints_total", result="ok") == prints_ok + 1
    text = app.test_client().get("/metrics").get_data(as_text=True)
    # Everything but the sample values (counts may be any number, 1234 among them): names, labels, help.
    words = "\n".join(line.rsplit(" ", 1)[0] if not line.startswith("#") else line for line in text.splitlines())
    for personal in ("山田", "ヤマダ", "1234", "霞が関"):
        assert personal not in words


# ---------------------------------------------------------------- request ids and logs

def test_each_answer_carries_a_request_id_and_keeps_a_well_formed_one(client):
    made = client.get("/prereg/").headers["X-Request-Id"]
    assert len(made) == 16
    assert client.get("/prereg/").headers["X-Request-Id"] != made
    assert client.get("/prereg/", headers={"X-Request-Id": "proxy-abc-123"}).headers["X-Request-Id"] == "proxy-abc-123"
    forged = client.get("/prereg/", headers={"X-Request-Id": "x" * 300}).headers["X-Request-Id"]
    assert forged != "x" * 300 and len(forged) == 16


@pytest.fixture
def json_log():
    from web.monitoring import configure_logging
    stream = io.StringIO()
    handler = configure_logging("json", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_json_logs_name_the_route_never_the_path_or_query(client, json_log):
    r = client.get("/counter/display/speech/987654321?name=山田太郎")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [e for e in lines if e["logger"] == "madoguchi.access"]
    assert access, lines
    entry = access[-1]
    assert entry["route"].startswith("/counter/display/speech/<int") and entry["route"].endswith(":call_id>")
    assert entry["status"] == r.status_code and entry["method"] == "GET"
    assert entry["request_id"] == r.headers["X-Request-Id"]
    assert entry["time"].endswith("+09:00")
    assert "987654321" not in json_log.getvalue() and "山田" not in json_log.getvalue()


def test_a_live_server_writes_json_lines_with_the_request_id(tmp_path, overrides):
    from tests.helpers import LiveServer
    server = LiveServer(write_config(tmp_path / "config.toml", overrides(monitoring={"log_format": "json"})))
    try:
        rid = requests.get(server.url + "/prereg/", timeout=10, headers={"X-Request-Id": "live-check-0001"}).headers[
            "X-Request-Id"]
    finally:
        server.stop()
    logged = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    assert any(e.get("request_id") == rid == "live-check-0001" and e["route"] == "/prereg/" for e in logged)
    assert all(e["time"].endswith("+09:00") for e in logged)
