"""The prereg JSON APIs: submit, QR PNG, withdraw, the office PULL API, postal codes, OpenAPI."""
import json

import cv2
import numpy as np
import pytest
import zxingcpp
from openapi_spec_validator import validate

from core import exchange_log as xlog
from core import sealed
from core.application import new_application_id
from core.keys import office_api_key
from core.services.prereg import open_preregistration
from core.tokens import TOKEN_LENGTH, decode_token, encode_token, token_in
from tests.helpers import MOVE_IN_EXTRAS

FORM = {"procedures": ["juminhyo"], "name": "API\u3000試験子", "kana": "エーピーアイ\u3000シケンコ",
        "birth_date": "1975-06-30", "sex": "female", "postal_code": "1000001",
        "address": "東京都千代田区千代田５－５", "juminhyo_scope": "household", "juminhyo_copies": 2}


def submit(client, form=FORM, **kw):
    return client.post("/prereg/api/v1/applications", json=form, **kw)


def test_submit_answers_201_with_a_token_that_opens_the_application(client, config, db):
    r = submit(client)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == {"id", "token", "expires_at", "qr_png_url"}
    assert len(body["token"]) == TOKEN_LENGTH <= 64 and decode_token(body["token"])[0] == body["id"]
    assert body["token"] not in body["qr_png_url"] and body["qr_png_url"].endswith(f"/applications/{body['id']}/qr.png")
    app_id, envelope = sealed.open_prereg_envelope(config, body["token"], db)
    form = envelope.form
    assert app_id == body["id"] and form["name"] == "API\u3000試験子" and form["juminhyo_copies"] == 2


def test_the_qr_png_needs_the_token_and_decodes_to_it(client):
    body = submit(client).get_json()
    path = body["qr_png_url"].split("localhost", 1)[-1]
    assert client.get(path).status_code == 400
    other = encode_token(new_application_id(), b"\x07" * 16)
    assert client.get(path, headers={"Authorization": f"Bearer {other}"}).status_code == 403
    r = client.get(path, headers={"Authorization": f"Bearer {body['token']}"})
    assert r.status_code == 200 and r.mimetype == "image/png" and r.headers["Cache-Control"] == "no-store"
    image = cv2.imdecode(np.frombuffer(r.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    found = zxingcpp.read_barcodes(image)
    # the QR holds the status page's URL; the kiosk takes the token out of it
    assert [b.text for b in found] == [f"HTTP://LOCALHOST/S/{body['token']}"]
    assert token_in(found[0].text) == body["token"]


def test_validation_errors_are_422_per_field_in_the_asked_language(client):
    bad = dict(FORM, kana="abc", birth_date="1975-02-30", postal_code="12", juminhyo_copies=99, nickname="x")
    del bad["name"]
    r = submit(client, bad, query_string={"lang": "en"})
    assert r.status_code == 422
    errors = {e["field"]: e for e in r.get_json()["errors"]}
    assert {k: e["code"] for k, e in errors.items()} == {
        "kana": "not_kana", "birth_date": "bad_date", "postal_code": "bad_postal_code",
        "juminhyo_copies": "out_of_range", "nickname": "unknown_field", "name": "required"}
    assert errors["name"]["message"] == "Enter full name"
    assert "1" in errors["juminhyo_copies"]["message"] and "20" in errors["juminhyo_copies"]["message"]
    r = submit(client, bad, query_string={"lang": "ja"})
    messages = {e["field"]: e["message"] for e in r.get_json()["errors"]}
    assert messages["name"] == "氏名を入力してください"
    assert "abc" not in json.dumps(r.get_json())  # values are never repeated


def test_household_errors_name_the_member(client):
    form = dict(FORM, **MOVE_IN_EXTRAS, procedures=["juminido"], move_type="tennyu", move_date="2026-04-01",
                previous_address="北海道札幌市中央区北１条西２丁目",
                household=[{"name": "甲", "birth_date": "2001-01-01"}, {"name": "乙", "birth_date": "x"}])
    for key in ("juminhyo_scope", "juminhyo_copies"):
        form.pop(key)
    r = submit(client, form, query_string={"lang": "en"})
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.get_json()["errors"]] == [("household[1].birth_date", "bad_date")]


def test_field_length_limit_from_config(client):
    r = submit(client, dict(FORM, address="あ" * 201))
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "too_long"


@pytest.mark.parametrize("body,status", [(b"not json", 400), (b"[1, 2]", 422), (b"{}", 422)])
def test_malformed_bodies(client, body, status):
    r = client.post("/prereg/api/v1/applications", data=body, content_type="application/json")
    assert r.status_code == status and "error" in r.get_json()


def test_an_oversized_body_is_refused(client):
    r = client.post("/prereg/api/v1/applications", data=b"{" + b" " * (300 * 1024) + b"}",
                    content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"] == "request_entity_too_large"


def test_submissions_are_rate_limited_per_client(config):
    from web import create_app
    app = create_app(config.replace({"prereg": {"submissions_per_minute": 3}}))
    client = app.test_client()
    statuses = [submit(client).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    r = submit(client)
    assert int(r.headers["Retry-After"]) >= 1
    other = submit(client, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 201


def test_zero_means_no_limit(config):
    from web import create_app
    app = create_app(config.replace({"prereg": {"submissions_per_minute": 0}}))
    client = app.test_client()
    assert {submit(client).status_code for _ in range(30)} == {201}


def test_withdraw_with_the_token(client, config, db):
    body = submit(client).get_json()
    url = f"/prereg/api/v1/applications/{body['id']}"
    forged = encode_token(body["id"], b"\x00" * 16)
    assert client.delete(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 403
    assert client.delete(url, headers={"Authorization": f"Bearer {body['token']}"}).status_code == 204
    assert client.delete(url, headers={"Authorization": f"Bearer {body['token']}"}).status_code == 404
    assert sealed.count(db) == 0


def test_pull_api_needs_the_office_key(client, config):
    body = submit(client).get_json()
    url = f"/prereg/api/v1/sealed/{body['id']}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get(url, headers={"Authorization": f"Bearer {office_api_key(config)}"})
    assert r.status_code == 200
    got = r.get_json()
    assert got["id"] == body["id"] and got["format"] == 1 and "試験" not in json.dumps(got, ensure_ascii=False)
    missing = client.get(f"/prereg/api/v1/sealed/{new_application_id()}",
                         headers={"Authorization": f"Bearer {office_api_key(config)}"})
    assert missing.status_code == 404 and missing.get_json()["error"] == "unknown_id"


def test_postal_code_lookup(client):
    r = client.post("/prereg/api/v1/postal-code", json={"postal_code": "１００－０００１"})
    assert r.status_code == 200
    assert r.get_json()["address"] == "東京都千代田区千代田"
    assert client.post("/prereg/api/v1/postal-code", json={"postal_code": "0000000"}).get_json() == {"found": False}
    assert client.post("/prereg/api/v1/postal-code", data="x").get_json() == {"found": False}


def test_openapi_document_is_valid_and_lists_the_procedures(client):
    doc = client.get("/prereg/api/v1/openapi.json").get_json()
    validate(doc)
    assert set(doc["paths"]) >= {"/applications", "/sealed/{id}", "/applications/{id}/qr.png", "/applications/{id}"}
    enum = doc["components"]["schemas"]["Application"]["properties"]["procedures"]["items"]["enum"]
    assert "juminhyo" in enum and "juminido" in enum


def test_office_side_opens_through_the_pull_api(live_server, config_file, tmp_path):
    """Split setup: the office side has its own database and reaches prereg over HTTP."""
    import requests

    from core.config import load_config
    from core.store.db import open_database
    from tests.helpers import write_config

    server = live_server("prereg")
    r = requests.post(server.url + "/prereg/api/v1/applications", json=FORM, timeout=10)
    assert r.status_code == 201
    token = r.json()["token"]
    prereg_config = load_config(config_file, base_dir=tmp_path)
    office_dir = tmp_path / "office"
    office_file = write_config(tmp_path / "office.toml", {
        "storage": {"path": str(office_dir / "office.db")}, "keys": {"dir": str(office_dir / "keys"),
                                                                      "office_api_key": office_api_key(prereg_config)},
        "prereg": {"server_url": server.url}})
    office = load_config(office_file, base_dir=office_dir)
    office_db = open_database(office_dir / "office.db")
    opened = open_preregistration(office_db, office, token, actor="counter:test")
    app_id, form = opened.app_id, opened.form
    assert app_id == r.json()["id"] and form is not None and form["name"] == "API\u3000試験子"
    [(purpose, subject)] = office_db.execute("SELECT purpose, subject_ref FROM exchange_log").fetchall()
    assert purpose == "prereg_fetch" and subject == xlog.subject_of(office, xlog.Person.of(FORM))
    with pytest.raises(sealed.TokenError) as e:
        sealed.open_prereg_envelope(office, encode_token(app_id, b"\x01" * 16), office_db)
    assert e.value.code == "wrong_key"
    with pytest.raises(sealed.TokenError) as e:
        sealed.open_prereg_envelope(office, encode_token(new_application_id(), b"\x01" * 16), office_db)
    assert e.value.code == "unknown_id"
    refused = load_config(write_config(tmp_path / "bad.toml", {
        "keys": {"dir": str(office_dir / "keys"), "office_api_key": "not-the-key"},
        "prereg": {"server_url": server.url}}), base_dir=office_dir)
    with pytest.raises(sealed.PreregUnavailable) as e:
        sealed.open_prereg_envelope(refused, token, office_db)
    assert e.value.code == "prereg_unauthorized"
    down = office.replace({"prereg": {"server_url": "http://127.0.0.1:9"}})
    with pytest.raises(sealed.PreregUnavailable) as e:
        sealed.open_prereg_envelope(down, token, office_db)
    assert e.value.code == "prereg_unreachable"


def test_behind_the_tls_proxy_each_client_has_its_own_limit(config):
    from web import create_app
    app = create_app(config.replace({"prereg": {"submissions_per_minute": 1}, "server": {"behind_tls": True}}))
    client = app.test_client()
    first = submit(client, headers={"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"})
    assert first.status_code == 201 and first.get_json()["qr_png_url"].startswith("https://")
    assert submit(client, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    assert submit(client, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 201
