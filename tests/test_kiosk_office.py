"""A kiosk PC apart from the office server: device tokens, the office's API, and the upload
queue that keeps applications while the office is unreachable."""
from __future__ import annotations

import re
import time

import pytest
import requests

from core import exchange_log as xlog
from core.config import load_config
from core.store.applications import ApplicationStore
from core.store.db import open_from_config, write
from kiosk.office import OfficeClient, device_token, kiosk_of_token
from tests.conftest import test_overrides as overrides_in
from tests.helpers import ROOT, LiveServer, free_port, madoguchi, write_config
from tests.kiosk_helpers import HttpKiosk

# --- device tokens ------------------------------------------------------------------------------

def test_each_kiosk_has_its_own_token():
    a, b = device_token("secret", "kiosk-1", "K"), device_token("secret", "kiosk-2", "L")
    assert a != b and a.startswith("kiosk-1.K.")
    assert kiosk_of_token("secret", a) == ("kiosk-1", "K")
    assert kiosk_of_token("other secret", a) is None
    mac = a.rsplit(".", 1)[1]
    assert kiosk_of_token("secret", f"kiosk-2.K.{mac}") is None     # not transferable to another kiosk…
    assert kiosk_of_token("secret", f"kiosk-1.L.{mac}") is None     # …nor to another kiosk's letters
    assert kiosk_of_token("secret", "") is None and kiosk_of_token("secret", "nodot") is None
    assert kiosk_of_token("secret", "kiosk-1.k.x") is None


def test_token_command_prints_the_kiosks_token(config_file, tmp_path):
    r = madoguchi("kiosk", "token", "kiosk-7", "--prefix", "K", config_file=config_file)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    from core.keys import kiosk_device_token
    config = load_config(config_file, base_dir=tmp_path)
    assert kiosk_of_token(kiosk_device_token(config), token) == ("kiosk-7", "K")
    assert madoguchi("kiosk", "token", "bad id!", "--prefix", "K", config_file=config_file).returncode != 0
    assert madoguchi("kiosk", "token", "kiosk-7", "--prefix", "k1", config_file=config_file).returncode != 0
    assert madoguchi("kiosk", "token", "kiosk-7", config_file=config_file).returncode != 0     # no prefix
    own = madoguchi("kiosk", "token", "kiosk-7", "--prefix", "A", config_file=config_file)
    assert own.returncode != 0 and "this office's own kiosk prefix" in own.stderr


def test_a_kiosk_pc_whose_token_is_not_its_own_does_not_start(tmp_path, overrides):
    from core.errors import ConfigError
    from web import create_app
    token = device_token("secret", "kiosk-7", "K")
    for kiosk, words in [({"kiosk_id": "kiosk-7", "reception_prefix": "L"}, "made for another kiosk_id or reception_"
                          "prefix: set it to what `madoguchi kiosk token kiosk-7 --prefix L` prints"),
                         ({"kiosk_id": "kiosk-8", "reception_prefix": "K"}, "made for another kiosk_id"),
                         ({"kiosk_id": "kiosk-7", "reception_prefix": "K", "token": ""}, "not a kiosk's device token")]:
        keys = {"kiosk_device_token": kiosk.pop("token", token)}
        pc = {"office_server_url": "http://127.0.0.1:9", **kiosk}
        config = load_config(ROOT / "config.toml", overrides=overrides(kiosk=pc, keys=keys),
                             base_dir=tmp_path)
        with pytest.raises(ConfigError, match=re.escape(words)) as e:
            create_app(config, "kiosk")
        # Nothing of the secret token: not its MAC, not the kiosk id it names (when not this kiosk's).
        given = keys["kiosk_device_token"]
        assert not given or given.rsplit(".", 1)[-1] not in str(e.value)
        assert kiosk["kiosk_id"] == "kiosk-7" or "kiosk-7" not in str(e.value)
    pc = {"office_server_url": "http://127.0.0.1:9", "kiosk_id": "kiosk-7", "reception_prefix": "K"}
    ok = load_config(ROOT / "config.toml", overrides=overrides(kiosk=pc, keys={"kiosk_device_token": token}),
                     base_dir=tmp_path)
    assert create_app(ok, "kiosk")


# --- the office's API (test client of an office app) ----------------------------------------------

UPLOAD_FORM = {"procedures": ["juminhyo"], "name": "山田　太郎", "kana": "ヤマダ　タロウ", "birth_date": "1980-05-17",
               "sex": "male", "postal_code": "1000013", "address": "東京都千代田区霞が関２丁目１－２",
               "juminhyo_scope": "self", "juminhyo_copies": 1}


def upload(kiosk_id="kiosk-7", app_id="0123456789ABCDEF", **changes):
    data = {k: v for k, v in UPLOAD_FORM.items() if k != "procedures"}
    body = {"kiosk_id": kiosk_id, "application": {
        "id": app_id, "state": "printed", "procedures": ["juminhyo"], "data": data,
        "sources": {"name": "card", "birth_date": "card", "kana": "typed", "sex": "card", "bogus": "x"},
        "reception_number": "K-004", "created_at": "2026-11-02T01:02:03.000000+00:00"},
        "exchanges": [{"purpose": "card_read", "counterparty": "mynumber_card", "at": "2026-11-02T01:01:00+00:00",
                       "payload_sha256": "ab" * 32, "result": "ok"},
                      {"purpose": "print", "counterparty": "printer:pdf-folder", "at": "2026-11-02T01:03:00+00:00",
                       "payload_sha256": "cd" * 32, "result": "ok"},
                      {"purpose": "something_else", "counterparty": "x"}]}
    body["application"].update(changes)
    return body


def bearer(app, kiosk_id: str, prefix: str) -> dict:
    from core.keys import kiosk_device_token
    return {"Authorization": f"Bearer {device_token(kiosk_device_token(app.config['MADOGUCHI']), kiosk_id, prefix)}"}


@pytest.fixture
def office(app):
    """The office side (all surfaces, so the counter's API is there) and kiosk-7's token (prefix K)."""
    return app.test_client(), bearer(app, "kiosk-7", "K")


def test_office_stores_a_kiosk_application_as_printed(office, db, config):
    client, auth = office
    r = client.post("/kiosk/api/v1/applications", json=upload(), headers=auth)
    assert r.status_code == 201, r.get_json()
    assert r.get_json() == {"id": "0123456789ABCDEF", "state": "printed", "reception_number": "K-004"}
    app = ApplicationStore(db).get("0123456789ABCDEF")
    assert app.state == "printed" and app.channel == "kiosk" and app.reception_number == "K-004"
    assert app.sources == {"name": "card", "birth_date": "card", "kana": "typed", "sex": "card",
                           "postal_code": "typed", "address": "typed", "juminhyo_scope": "typed",
                           "juminhyo_copies": "typed"}
    assert {e.actor for e in ApplicationStore(db).events(app.id)} == {"kiosk:kiosk-7"}
    entries = list(xlog.entries(db, application_id=app.id))
    assert [(e["purpose"], e["actor"], e["counterparty"]) for e in entries] == [
        ("card_read", "kiosk:kiosk-7", "mynumber_card"), ("print", "kiosk:kiosk-7", "printer:pdf-folder")]
    from core.keys import subject_key
    assert entries[0]["subject_ref"] == xlog.subject_ref(subject_key(config), "山田\u3000太郎", "1980-05-17")
    # A retry after a lost answer is the same application, not a second one.
    again = client.post("/kiosk/api/v1/applications", json=upload(), headers=auth)
    assert again.status_code == 200 and ApplicationStore(db).count() == 1
    assert len(list(xlog.entries(db, application_id=app.id))) == 2


def test_the_office_keeps_the_status_key_the_kiosk_pc_printed_on_the_slip(office, db):
    import base64

    from core import progress
    client, auth = office
    key = bytes(range(16))
    body = {**upload(), "status_key": base64.b64encode(key).decode()}
    assert client.post("/kiosk/api/v1/applications", json=body, headers=auth).status_code == 201
    assert progress.key_for(db, "0123456789ABCDEF") == key
    for app_id, bad in (("0123456789ABCDEG", "not base64!"), ("0123456789ABCDEH", base64.b64encode(b"short").decode()),
                        ("0123456789ABCDEJ", 7)):
        other = {**upload(app_id=app_id, reception_number="K-005"), "status_key": bad}
        assert client.post("/kiosk/api/v1/applications", json=other, headers=auth).status_code == 201
        assert progress.key_for(db, app_id) not in (None, key)   # refused: a random one of its own


def test_office_refuses_what_it_should(office, db):
    client, auth = office
    url = "/kiosk/api/v1/applications"
    assert client.post(url, json=upload()).status_code == 401
    assert client.post(url, json=upload(), headers={"Authorization": "Bearer kiosk-7.forged"}).status_code == 401
    assert client.post(url, json=upload(kiosk_id="kiosk-8"), headers=auth).status_code == 403
    r = client.post(url, json=upload(data={**upload()["application"]["data"], "birth_date": "1980-02-30"}),
                    headers=auth)
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "birth_date"
    assert client.post(url, json=upload(state="confirmed"), headers=auth).status_code == 400
    assert client.post(url, json=upload(reception_number="<b>"), headers=auth).status_code == 400
    assert client.post(url, data="not json", headers=auth).status_code == 400
    assert ApplicationStore(db).count() == 0
    client.post(url, json=upload(), headers=auth)
    changed = upload(data={**upload()["application"]["data"], "juminhyo_copies": 3})
    assert client.post(url, json=changed, headers=auth).status_code == 409


def test_a_kiosk_cannot_upload_for_another_kiosk(office, app, db):
    client, auth = office
    url = "/kiosk/api/v1/applications"
    assert client.post(url, json=upload(), headers=auth).status_code == 201         # kiosk-7's application
    other = bearer(app, "kiosk-8", "L")
    # kiosk-8 sends kiosk-7's application again, under its own name and with its own letters.
    r = client.post(url, json=upload(kiosk_id="kiosk-8", reception_number="L-001"), headers=other)
    assert r.status_code == 403 and r.get_json() == {"error": "other_kiosks_application"}
    r = client.post(url, json=upload(kiosk_id="kiosk-8", reception_number="L-001", state="submitted"), headers=other)
    assert r.status_code == 403
    app_ = ApplicationStore(db).get("0123456789ABCDEF")
    assert (app_.reception_number, app_.state) == ("K-004", "printed")
    assert {e.actor for e in ApplicationStore(db).events(app_.id)} == {"kiosk:kiosk-7"}
    # …and a number with kiosk-7's letters, for an application of its own: refused too.
    r = client.post(url, json=upload(kiosk_id="kiosk-8", app_id="0123456789ABCDEG", reception_number="K-005"),
                    headers=other)
    assert r.status_code == 403 and r.get_json() == {"error": "foreign_reception_number", "prefix": "L"}
    assert ApplicationStore(db).count() == 1
    # kiosk-7's own retry stays a retry; the same id with another number is a conflict.
    assert client.post(url, json=upload(), headers=auth).status_code == 200
    assert client.post(url, json=upload(reception_number="K-009"), headers=auth).status_code == 409


def test_a_kiosk_cannot_take_over_an_application_made_elsewhere(office, db):
    from core.application import Application, Source
    client, auth = office
    data = {k: v for k, v in UPLOAD_FORM.items() if k != "procedures"}
    clerks = Application.create(["juminhyo"], data, Source.TYPED, actor="clerk:sato", channel="counter",
                                application_id="0123456789ABCDEF")
    ApplicationStore(db).save(clerks)
    r = client.post("/kiosk/api/v1/applications", json=upload(), headers=auth)
    assert r.status_code == 409 and r.get_json() == {"error": "conflict"}


def test_the_office_api_is_only_on_the_office_side(config):
    from web import create_app
    assert create_app(config, "kiosk").test_client().post("/kiosk/api/v1/applications", json={}).status_code == 404


class Office:
    """The office's side of OfficeClient.send, in process: down until told, then the real service."""

    def __init__(self, db, config):
        self.db, self.config, self.up, self.bodies, self.while_sending = db, config, False, [], None

    def send(self, body):
        from core.services.uploads import receive_kiosk_upload
        from kiosk.office import OfficeUnavailable
        self.bodies.append(body)
        if not self.up:
            raise OfficeUnavailable("down")
        if self.while_sending is not None:
            self.while_sending()
            self.while_sending = None
        receive_kiosk_upload(self.db, self.config, kiosk_id="kiosk-7", prefix="K", body=body)
        return {}


def kiosk_pc_application(state):
    from core.application import Application, Source, State
    data = {k: v for k, v in UPLOAD_FORM.items() if k != "procedures"}
    app = Application.create(["juminhyo"], data, Source.TYPED, actor="kiosk:kiosk-7", channel="kiosk",
                             application_id="0123456789ABCDEF")
    app.reception_number = "K-004"
    app.transition(State.SUBMITTED, "kiosk:kiosk-7")
    if state == "printed":
        app.transition(State.PRINTED, "kiosk:kiosk-7")
    return app


def test_a_retried_upload_sends_every_exchange_the_office_has_not_acknowledged(db, config, monkeypatch):
    pc_config = config.replace({"kiosk": {"kiosk_id": "kiosk-7", "reception_prefix": "K"}})
    client, office = OfficeClient(pc_config), Office(db, config)
    monkeypatch.setattr(client, "send", office.send)
    card_read, printed, _ = upload()["exchanges"]
    client.enqueue(db, kiosk_pc_application("submitted"), [card_read])   # handed over, the office down
    assert client.deliver_pending(db, force=True) == (0, 1)
    client.enqueue(db, kiosk_pc_application("printed"), [printed])       # then printed after all
    office.up = True
    assert client.deliver_pending(db, force=True) == (1, 0)
    assert [e["purpose"] for e in office.bodies[-1]["exchanges"]] == ["card_read", "print"]
    assert [(e["purpose"], e["counterparty"]) for e in xlog.entries(db, application_id="0123456789ABCDEF")] == [
        ("card_read", "mynumber_card"), ("print", "printer:pdf-folder")]


def test_an_upload_replaced_while_on_its_way_is_sent_again(db, config, monkeypatch):
    pc_config = config.replace({"kiosk": {"kiosk_id": "kiosk-7", "reception_prefix": "K"}})
    client, office = OfficeClient(pc_config), Office(db, config)
    monkeypatch.setattr(client, "send", office.send)
    card_read, printed, _ = upload()["exchanges"]
    client.enqueue(db, kiosk_pc_application("submitted"), [card_read])
    office.up = True
    office.while_sending = lambda: client.enqueue(db, kiosk_pc_application("printed"), [card_read, printed])
    assert client.deliver_pending(db, force=True) == (0, 1)      # the first arrived; the newer one waits
    assert client.deliver_pending(db, force=True) == (1, 0)
    assert ApplicationStore(db).get("0123456789ABCDEF").state == "printed"
    assert [e["purpose"] for e in xlog.entries(db, application_id="0123456789ABCDEF")] == ["card_read", "print"]


# --- two live servers: a kiosk PC and the office ---------------------------------------------------

def kiosk_pc(tmp_path, office_server_url: str, token: str):
    pc = tmp_path / "kiosk-pc"
    pc.mkdir()
    # The kiosk PC's own database: SQLite in its folder, whatever the office's engine.
    values = overrides_in(pc, kiosk={"office_server_url": office_server_url, "kiosk_id": "kiosk-7",
                                        "reception_prefix": "K"},
                             keys={"kiosk_device_token": token}, devices={"emulator_persona": ""})
    config_file = write_config(pc / "config.toml", values)
    return config_file, load_config(config_file, base_dir=pc)


def test_kiosk_pc_keeps_applications_while_the_office_is_down(tmp_path, config_file, monkeypatch):
    office_config = load_config(config_file, base_dir=tmp_path)
    token = madoguchi("kiosk", "token", "kiosk-7", "--prefix", "K", config_file=config_file).stdout.strip()
    office_port = free_port()
    pc_file, pc_config = kiosk_pc(tmp_path, f"http://127.0.0.1:{office_port}", token)
    pc = LiveServer(pc_file, "kiosk")
    office = None
    try:
        number = HttpKiosk(pc.url, pc_config).visit_to_print()
        assert number == "K-001"                    # printed, although the office is unreachable
        pc_db = open_from_config(pc_config)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            [row] = OfficeClient(pc_config).pending(pc_db)
            if row["attempts"]:
                break
            time.sleep(0.2)
        assert row["attempts"] >= 1 and row["last_error"] == "office_unreachable"
        assert ApplicationStore(pc_db).count() == 0  # the kiosk PC keeps only the queue
        waiting = requests.get(pc.url + "/healthz", timeout=10).json()["checks"]["office_uploads"]
        assert waiting["waiting"] == 1 and waiting["ok"] is True     # not yet waiting too long
        # The office comes back: the kiosk PC delivers on its own.
        monkeypatch.setattr("tests.helpers.free_port", lambda: office_port)
        office = LiveServer(config_file, "counter")
        office_db = open_from_config(office_config)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not ApplicationStore(office_db).count():
            time.sleep(0.3)
        [app] = ApplicationStore(office_db).list()
        assert (app.state, app.reception_number, app.channel) == ("printed", "K-001", "kiosk")
        assert app.data["name"] == "山田\u3000太郎" and app.sources["name"] == "card"
        purposes = [(e["purpose"], e["counterparty"]) for e in xlog.entries(office_db, application_id=app.id)]
        assert purposes == [("card_read", "mynumber_card"), ("print", "printer:pdf-folder")]
        deadline = time.monotonic() + 5
        while OfficeClient(pc_config).pending(pc_db) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert OfficeClient(pc_config).pending(pc_db) == []     # delivered: nothing personal left
        assert requests.get(pc.url + "/healthz", timeout=10).json()["checks"]["office_uploads"] == {
            "ok": True, "waiting": 0, "oldest_waiting_age_seconds": None}
        from core import progress  # the slip's QR (the kiosk PC's key) opens the office's status page
        assert progress.key_for(pc_db, app.id) is not None
        assert progress.key_for(office_db, app.id) == progress.key_for(pc_db, app.id)
        # The next visit goes straight through.
        assert HttpKiosk(pc.url, pc_config).visit_to_print() == "K-002"
        deadline = time.monotonic() + 10
        while ApplicationStore(office_db).count() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ApplicationStore(office_db).count() == 2
        r = madoguchi("kiosk", "queue", config_file=pc_file)
        assert "nothing waiting" in r.stdout
    finally:
        if office:
            office.stop()
        pc.stop()


def test_a_kiosk_pc_whose_uploads_wait_too_long_is_degraded(tmp_path):
    from datetime import timedelta

    from core.application import iso, utcnow
    from web import create_app
    _pc_file, pc_config = kiosk_pc(tmp_path, "http://127.0.0.1:9", device_token("secret", "kiosk-7", "K"))
    app = create_app(pc_config, "kiosk")
    db = open_from_config(pc_config)
    old = iso(utcnow() - timedelta(minutes=pc_config.monitoring.outbox_max_age_minutes + 1))
    with write(db):
        db.execute("INSERT INTO kiosk_uploads (application_id, body, attempts, next_attempt_at, created_at)"
                   " VALUES ('0123456789ABCDEF', '{}', 3, ?, ?)", [old, old])
    assert "madoguchi_kiosk_uploads_waiting 1.0" in app.test_client().get("/metrics").get_data(as_text=True)
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "degraded" and body["checks"]["office_uploads"]["ok"] is False
    assert body["checks"]["office_uploads"]["waiting"] == 1
