"""Pull mode: the core system lists records since a cursor and acknowledges them."""
from __future__ import annotations

import json

import jsonschema
import pytest

from core import exchange_log as xlog
from core.application import State
from core.keys import read_or_create
from core.store.applications import ApplicationStore
from tests.fixtures_forwarding import confirmed_applications, forward_entries, outbox_rows
from tests.helpers import ROOT

KEY = "test-pull-key-0123456789"


@pytest.fixture
def pull_config(config):
    return config.replace({"backend": {"mode": "pull"}, "keys": {"pull_api_key": KEY}})


@pytest.fixture
def pull_client(pull_config):
    from web import create_app

    app = create_app(pull_config, "counter")
    app.config["TESTING"] = True
    return app.test_client()


AUTH = {"Authorization": f"Bearer {KEY}"}


def test_listing_needs_the_api_key(pull_client, db):
    confirmed_applications(db, 1)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        resp = pull_client.get("/counter/api/v1/records", headers=headers)
        assert resp.status_code == 401 and resp.json["error"] == "unauthorized"
        assert "Bearer" in resp.headers["WWW-Authenticate"]
        assert "山田" not in resp.get_data(as_text=True)
    assert pull_client.post("/counter/api/v1/records/ack", json={"idempotency_keys": []}).status_code == 401


def test_list_since_a_cursor_then_acknowledge(pull_client, db):
    apps = confirmed_applications(db, 5)
    schema = json.loads((ROOT / "docs" / "record.schema.json").read_text())
    first = pull_client.get("/counter/api/v1/records?limit=3", headers=AUTH)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    page = first.json
    assert page["schema"] == "madoguchi.records/1" and page["more"] is True
    assert [r["record"]["application_id"] for r in page["records"]] == [a.id for a in apps[:3]]
    for item in page["records"]:
        jsonschema.validate(item["record"], schema)
        assert item["record"]["idempotency_key"] == item["idempotency_key"]
    second = pull_client.get(f"/counter/api/v1/records?since={page['next_cursor']}&limit=3", headers=AUTH).json
    assert [r["record"]["application_id"] for r in second["records"]] == [a.id for a in apps[3:]]
    assert second["more"] is False
    # Listing is not delivery: nothing is forwarded until the core system acknowledges.
    assert all(r["state"] == "pending" for r in outbox_rows(db)) and forward_entries(db) == []

    keys = [i["idempotency_key"] for i in page["records"]]
    ack = pull_client.post("/counter/api/v1/records/ack", json={"idempotency_keys": keys + ["NOPE-v1"]},
                           headers=AUTH)
    assert ack.status_code == 200  # no CSRF token needed: the API key authenticates
    assert ack.json == {"acknowledged": keys, "already_acknowledged": [], "unknown": ["NOPE-v1"]}
    store = ApplicationStore(db)
    assert [store.get(a.id).state for a in apps] == [State.FORWARDED] * 3 + [State.CONFIRMED] * 2
    entries = forward_entries(db)
    assert [e["application_id"] for e in entries] == [a.id for a in apps[:3]]
    assert {e["counterparty"] for e in entries} == {"pull:127.0.0.1"} and {e["result"] for e in entries} == {"ok"}
    # An acknowledgement sent twice changes nothing and writes no second entry.
    again = pull_client.post("/counter/api/v1/records/ack", json={"idempotency_keys": keys[:1]}, headers=AUTH)
    assert again.json["already_acknowledged"] == keys[:1] and len(forward_entries(db)) == 3
    # A core system that lost its cursor starts again from 0 and gets what it has not acknowledged.
    rest = pull_client.get("/counter/api/v1/records?since=0", headers=AUTH).json
    assert [r["record"]["application_id"] for r in rest["records"]] == [a.id for a in apps[3:]]
    assert xlog.verify(db).ok


@pytest.mark.parametrize("query", ["since=-1", "since=abc", "limit=0", "limit=5000"])
def test_bad_parameters_are_refused(pull_client, query):
    resp = pull_client.get(f"/counter/api/v1/records?{query}", headers=AUTH)
    assert resp.status_code == 400 and resp.json["error"] == "bad_request"


@pytest.mark.parametrize("body", [None, {}, {"idempotency_keys": "K"}, {"idempotency_keys": [1]}])
def test_a_malformed_acknowledgement_is_refused(pull_client, body):
    resp = pull_client.post("/counter/api/v1/records/ack", json=body, headers=AUTH)
    assert resp.status_code == 400


def test_the_api_is_off_unless_the_mode_is_pull(client, config):
    key = read_or_create(config, "pull_api.key")
    resp = client.get("/counter/api/v1/records", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 404 and resp.json["error"] == "pull_disabled"


def test_the_generated_key_works_when_none_is_configured(config, db):
    from web import create_app

    cfg = config.replace({"backend": {"mode": "pull"}})
    client = create_app(cfg, "counter").test_client()
    confirmed_applications(db, 1)
    key = read_or_create(cfg, "pull_api.key")
    assert len(key) >= 40
    resp = client.get("/counter/api/v1/records", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200 and len(resp.json["records"]) == 1


def test_forward_command_in_pull_mode_explains_and_exits(runner, config_file, tmp_path):
    text = config_file.read_text() + '\n'
    config_file.write_text(text.replace('[backend]\n', '[backend]\nmode = "pull"\n'))
    result = runner.invoke("forward", "--once")
    assert result.exit_code == 0 and "pull" in result.output
