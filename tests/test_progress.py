"""進捗: the resident's status page (core.progress, prereg /s/<token>): status tokens and URLs,
the status keys, pushes recorded with each state change and kept in order, the sealed detail
(with the exchange-log entries, never payloads), the page, and the purge."""
import base64
import json
import re
from datetime import timedelta

import cv2
import numpy as np
import pytest
import segno
import zxingcpp

from core import exchange_view, progress, sealed
from core.application import Application, Source, State, new_application_id, utcnow
from core.keys import office_api_key
from core.services import casework
from core.services.prereg import open_preregistration
from core.store.applications import ApplicationStore, ConcurrentUpdate
from core.tokens import (
    TokenError,
    decode_status_token,
    decode_token,
    encode_status_token,
    encode_token,
    looks_like_token,
    token_in,
)
from tests.test_sealed import FORM

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)

DATA = {k: v for k, v in FORM.items() if k != "procedures"}


def kiosk_application(db, state=State.SUBMITTED):
    app = Application.create(["juminhyo"], DATA, Source.TYPED, actor="kiosk:kiosk-1", channel="kiosk")
    app.transition(State.SUBMITTED, "kiosk:kiosk-1")
    if state is State.PRINTED:
        app.transition(State.PRINTED, "kiosk:kiosk-1")
    return ApplicationStore(db).save(app)


def steps_of(db, app_id):
    return [r["step"] for r in db.query("SELECT step FROM progress_steps WHERE application_id = ? ORDER BY seq",
                                        [app_id])]


# --- tokens and URLs ---------------------------------------------------------------------------

def test_a_status_token_has_its_own_kind_and_check():
    app_id, key = new_application_id(), bytes(range(16))
    token = encode_status_token(app_id, key)
    assert token.startswith("MDGS1:") and len(token) == 54
    assert decode_status_token(token) == (app_id, key)
    with pytest.raises(TokenError) as e:
        decode_token(token)            # not a pre-registration token
    assert e.value.code == "malformed"
    with pytest.raises(TokenError) as e:
        decode_status_token(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert e.value.code == "bad_checksum"
    # the same id and key as a prereg token has other check characters: kinds never mix
    assert encode_token(app_id, key)[-6:] != token[-6:]


def test_a_url_yields_its_token_on_any_host_and_its_check_decides():
    app_id, key = new_application_id(), bytes(16)
    token = encode_token(app_id, key)
    for url in (f"HTTPS://CITY.EXAMPLE/S/{token}", f"http://127.0.0.1:8000/prereg/s/{token}?lang=en",
                f"https://evil.example/x/{token}#frag"):
        assert token_in(url) == token and looks_like_token(url) and decode_token(url) == (app_id, key)
    with pytest.raises(TokenError) as e:
        decode_token(f"HTTPS://CITY.EXAMPLE/S/{token[:-1]}Z" if token[-1] != "Z" else token[:-1] + "Y")
    assert e.value.code == "bad_checksum"
    assert token_in("MDGP1:ABC") == "MDGP1:ABC"


def test_the_status_url_stays_at_qr_version_6_level_q_for_a_40_character_host():
    host = "madoguchi-shinsei.kakuu-shi.example.jp"[:40].ljust(40, "x")
    token = encode_token(new_application_id(), bytes(16))
    url = progress.status_url(f"https://{host}", token)
    assert url == f"HTTPS://{host.upper()}/S/{token}"
    qr = segno.make(url, error="q", micro=False, boost_error=False)
    assert qr.mode == "alphanumeric" and qr.version <= 6
    status = progress.status_url(f"https://{host}", encode_status_token(new_application_id(), bytes(16)))
    assert segno.make(status, error="q", micro=False, boost_error=False).version <= 6


# --- keys and pushes ---------------------------------------------------------------------------

def test_a_pre_registration_s_status_key_is_derived_from_its_token_and_not_the_same_key():
    app_id, key = new_application_id(), bytes(range(16))
    derived = progress.prereg_status_key(key, app_id)
    assert len(derived) == 16 and derived != key
    assert derived == progress.prereg_status_key(key, app_id)
    assert derived != progress.prereg_status_key(key, new_application_id())


def test_each_state_change_records_a_push_in_its_transaction_and_the_kiosk_app_gets_a_random_key(db, config):
    app = kiosk_application(db, State.PRINTED)
    assert progress.key_for(db, app.id) is not None
    rows = list(db.query("SELECT seq, step FROM progress_queue WHERE application_id = ? ORDER BY seq", [app.id]))
    assert [(r["seq"], r["step"]) for r in rows] == [(1, "received"), (2, "printed")]
    # a save that fails (someone else changed it) records no push either
    stale, fresh = ApplicationStore(db).get(app.id), ApplicationStore(db).get(app.id)
    fresh.note("clerk:sato", "printed", reason="reprint")
    ApplicationStore(db).save(fresh)
    stale.transition(State.REJECTED, "clerk:sato")
    with pytest.raises(ConcurrentUpdate):
        ApplicationStore(db).save(stale)
    assert progress.queued(db) == 2
    assert progress.deliver_pending(db, config) == 2 and progress.queued(db) == 0
    assert steps_of(db, app.id) == ["received", "printed"]


def test_opening_a_pre_registration_is_received_once_under_the_derived_key(db, config):
    receipt = sealed.submit(config, db, FORM)
    app_id, key = decode_token(receipt.token)
    open_preregistration(db, config, receipt.token, actor="kiosk:kiosk-1")
    open_preregistration(db, config, receipt.token, actor="kiosk:kiosk-2")  # opened again, before any print
    assert progress.key_for(db, app_id) == progress.prereg_status_key(key, app_id)
    app = Application.create(["juminhyo"], DATA, Source.QR, actor="kiosk:kiosk-1", channel="kiosk",
                             application_id=app_id)
    app.transition(State.SUBMITTED, "kiosk:kiosk-1")
    app.transition(State.PRINTED, "kiosk:kiosk-1")
    ApplicationStore(db).save(app)
    progress.deliver_pending(db, config)
    assert steps_of(db, app_id) == ["received", "printed"]
    found = progress.progress_of(db, app_id, progress.prereg_status_key(key, app_id))
    assert [s.step for s in found.steps] == ["received", "printed"] and found.current == "printed"


def test_confirmed_and_forwarded_are_pushed_as_the_outbox_moves_the_state(db, config):
    from core import outbox
    app = kiosk_application(db, State.PRINTED)
    outbox.confirm(db, ApplicationStore(db).get(app.id), "clerk:sato")
    app = ApplicationStore(db).get(app.id)
    app.transition(State.FORWARDED, "forwarder")
    ApplicationStore(db).save(app)
    progress.deliver_pending(db, config)
    assert steps_of(db, app.id) == ["received", "printed", "confirmed", "forwarded"]


def test_a_kiosk_pc_keeps_the_derived_key_but_leaves_the_push_to_the_office(db, config):
    receipt = sealed.submit(config, db, FORM)
    pc = config.replace({"kiosk": {"office_server_url": "http://127.0.0.1:9"}})
    open_preregistration(db, pc, receipt.token, actor="kiosk:kiosk-7")
    app_id, key = decode_token(receipt.token)
    assert progress.key_for(db, app_id) == progress.prereg_status_key(key, app_id) and progress.queued(db) == 0


def test_a_replay_or_an_older_push_never_overwrites_a_newer_state(db, config):
    app = kiosk_application(db, State.PRINTED)
    rows = list(db.query("SELECT * FROM progress_queue ORDER BY seq"))
    bodies = [progress.push_body(db, r) for r in rows]
    assert progress.accept(db, bodies[1]) is True       # the newer one arrives first
    assert progress.accept(db, bodies[0]) is True       # then the older
    assert progress.accept(db, bodies[1]) is False      # a replay
    found = progress.progress_of(db, app.id, progress.key_for(db, app.id))
    assert found.current == "printed" and [s.step for s in found.steps] == ["received", "printed"]


def test_a_push_that_is_not_one_is_refused_with_the_field(db):
    good = {"application_id": new_application_id(), "seq": 1, "step": "printed", "at": utcnow().isoformat(),
            "sealed": base64.b64encode(bytes(40)).decode()}
    for field, bad in (("application_id", "nope"), ("seq", True), ("seq", 0), ("step", "lost"),
                       ("at", "yesterday"), ("at", "2026-01-01T00:00:00"), ("sealed", "***")):
        with pytest.raises(progress.PushRefused) as e:
            progress.accept(db, {**good, field: bad})
        assert e.value.details["field"] == field
    assert db["progress_steps"].count == 0


def test_the_sealed_detail_carries_the_entries_without_payloads_and_binds_its_step(db, config):
    receipt = sealed.submit(config, db, FORM)
    open_preregistration(db, config, receipt.token, actor="kiosk:kiosk-1")   # a prereg_fetch entry
    app_id, key = decode_token(receipt.token)
    row = next(db.query("SELECT * FROM progress_queue"))
    body = progress.push_body(db, row)
    assert set(body) == {"application_id", "seq", "step", "at", "sealed"}
    assert FORM["name"] not in json.dumps(body, ensure_ascii=False)
    raw = base64.b64decode(body["sealed"])
    detail = progress.open_detail(progress.prereg_status_key(key, app_id), app_id, body["seq"], body["step"],
                                  body["at"], raw)
    [entry] = detail["entries"]
    assert set(entry) == set(exchange_view.DETAIL_KEYS)
    assert (entry["purpose"], entry["counterparty"], entry["result"]) == ("prereg_fetch", "prereg", "ok")
    assert entry["actor"] == "kiosk"      # the kind of actor only: never which kiosk or which clerk
    assert detail["bring"] == [] and detail["note"] is None
    with pytest.raises(TokenError):   # the same ciphertext under another step does not open
        progress.open_detail(progress.prereg_status_key(key, app_id), app_id, body["seq"], "forwarded",
                             body["at"], raw)
    with pytest.raises(TokenError):
        progress.open_detail(key, app_id, body["seq"], body["step"], body["at"], raw)


def test_a_rejection_tells_what_to_bring_and_the_note_and_refuses_unknown_codes(db, config):
    app = kiosk_application(db, State.PRINTED)
    with pytest.raises(casework.ValidationError) as e:
        casework.reject(db, config, casework.load(db, app.id), actor="clerk:sato", reason="転出証明書がない",
                        expected_version=None, bring=["moving_out_certificate", "unicorn"])
    assert [(fe.field, fe.code, fe.params) for fe in e.value.errors] == [
        ("bring", "unknown_thing_to_bring", {"thing": "unicorn"})]
    assert ApplicationStore(db).get(app.id).state is State.PRINTED
    casework.reject(db, config, casework.load(db, app.id), actor="clerk:sato", reason="転出証明書がない",
                    expected_version=None, bring=["moving_out_certificate", "seal"], note="  平日に  お越しください ")
    progress.deliver_pending(db, config)
    found = progress.progress_of(db, app.id, progress.key_for(db, app.id))
    assert found.current == "rejected"
    assert found.detail["bring"] == ["moving_out_certificate", "seal"]
    assert found.detail["note"] == "平日に お越しください"
    assert [e["purpose"] for e in found.detail["entries"]] == ["reject"]


def test_purge_deletes_progress_days_after_the_last_step(db, config):
    old, new = kiosk_application(db), kiosk_application(db)
    progress.deliver_pending(db, config)
    db.execute("UPDATE progress_steps SET at = ? WHERE application_id = ?",
               [(utcnow() - timedelta(days=31)).isoformat(), old.id])
    assert progress.purge(db, days=30) == 1
    assert steps_of(db, old.id) == [] and steps_of(db, new.id) == ["received"]


# --- the page ------------------------------------------------------------------------------------

def status_path(token):
    return f"/prereg/s/{token}"


def test_the_status_page_follows_a_pre_registration_from_sent_to_forwarded(client, db, config):
    r = client.post("/prereg/api/v1/applications", json=FORM)
    token = r.get_json()["token"]
    page = client.get(status_path(token), query_string={"lang": "en"})
    assert page.status_code == 200 and "has not received it yet" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    open_preregistration(db, config, token, actor="kiosk:kiosk-1")
    app_id = decode_token(token)[0]
    app = Application.create(["juminhyo"], DATA, Source.QR, actor="kiosk:kiosk-1", channel="kiosk",
                             application_id=app_id)
    app.transition(State.SUBMITTED, "kiosk:kiosk-1")
    app.transition(State.PRINTED, "kiosk:kiosk-1")
    ApplicationStore(db).save(app)
    html = client.get(status_path(token), query_string={"lang": "en"}).get_data(as_text=True)
    marks = dict(re.findall(r'data-step="(\w+)" data-mark="(\w+)"', html))
    assert marks == {"received": "done", "printed": "current", "confirmed": "pending", "forwarded": "pending"}
    assert FORM["name"] not in html and FORM["address"] not in html
    # the same page at the short upper-case URL the QR holds, in Japanese, with Japan's time
    short = client.get(f"/S/{token}", query_string={"lang": "ja"})
    text = short.get_data(as_text=True)
    assert short.status_code == 200 and "印刷済" in text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", text)


def test_the_status_page_shows_the_application_s_exchanges_as_the_kiosk_does_without_the_clerk(client, db, config):
    app = kiosk_application(db, State.PRINTED)
    casework.reject(db, config, casework.load(db, app.id), actor="clerk:sato", reason="転出証明書がない",
                    expected_version=None, bring=["moving_out_certificate"])
    token = progress.status_token(db, app.id)
    html = client.get(status_path(token), query_string={"lang": "en"}).get_data(as_text=True)
    assert "Who used your information for this application" in html
    fields = dict(re.findall(r'data-exchange-field="(\w+)"><dt class="summary-key">[^<]*</dt>'
                             r'<dd class="summary-value">([^<]*)</dd>', html))
    assert fields["kind"] == "Turned down" and fields["status"] == "Provided"
    assert re.fullmatch(r"\d{10}", fields["number"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", fields["at"])
    assert fields["procedures"] == "Get a copy of my residence record (juminhyo)"
    assert fields["agency"].endswith("Citizens Division") and fields["affair"] == "Basic resident register affairs"
    assert "sato" not in html and "転出証明書がない" not in html     # no clerk account, no reason's words


def test_unknown_wrong_or_bad_tokens_are_a_404_page_in_the_user_s_language(client, db, config):
    app = kiosk_application(db)
    good = progress.status_token(db, app.id)
    assert client.get(status_path(good)).status_code == 200
    for token in (encode_status_token(app.id, bytes(16)),            # wrong key
                  encode_status_token(new_application_id(), bytes(16)),  # unknown id
                  encode_token(new_application_id(), bytes(16)),     # a prereg never sent
                  "MDGS1:nonsense", "x" * 300, "MDGP9:" + "0" * 48):
        r = client.get(status_path(token), query_string={"lang": "en"})
        assert r.status_code == 404 and "Page not found" in r.get_data(as_text=True), token
        assert r.headers["Cache-Control"] == "no-store"


def test_the_prereg_qr_is_the_status_url_and_the_done_page_links_to_it(client):
    body = client.post("/prereg/api/v1/applications", json=FORM).get_json()
    path = body["qr_png_url"].split("localhost", 1)[-1]
    png = client.get(path, headers={"Authorization": f"Bearer {body['token']}"}).data
    [found] = zxingcpp.read_barcodes(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))
    assert found.text == f"HTTP://LOCALHOST/S/{body['token']}" and token_in(found.text) == body["token"]


def test_the_push_api_needs_the_office_key_and_keeps_each_seq_once(client, db, config):
    app = kiosk_application(db)
    body = progress.push_body(db, next(db.query("SELECT * FROM progress_queue")))
    db.execute("DELETE FROM progress_queue")
    assert client.post("/prereg/api/v1/progress", json=body).status_code == 401
    auth = {"Authorization": f"Bearer {office_api_key(config)}"}
    assert client.post("/prereg/api/v1/progress", json=body, headers=auth).status_code == 201
    assert client.post("/prereg/api/v1/progress", json=body, headers=auth).status_code == 200
    r = client.post("/prereg/api/v1/progress", json={**body, "step": "lost"}, headers=auth)
    assert r.status_code == 422 and r.get_json()["field"] == "step"
    assert client.post("/prereg/api/v1/progress", data="[", headers=auth,
                       content_type="application/json").status_code == 400
    assert steps_of(db, app.id) == ["received"]


def test_the_done_page_links_to_the_status_page_of_its_token(walker, db):
    from tests.test_prereg_flow import CERT_ANSWERS, answer_all, start
    start(walker)
    answer_all(walker, CERT_ANSWERS)
    walker.post({})
    assert walker.at() == "/prereg/done"
    [link] = re.findall(r'class="status-link" href="(/prereg/s/[^"]+)"', walker.page)
    app_id = next(db.query("SELECT id FROM sealed_applications"))["id"]
    assert decode_token(token_in(link))[0] == app_id
    page = walker.client.get(link)
    assert page.status_code == 200 and "申請は送信されましたが" in page.get_data(as_text=True)


def test_the_kiosk_camera_reads_the_status_url_off_a_phone_as_a_checked_token():
    from hardware.camera.decode import check_of, decode_frame
    from hardware.camera.testmedia import Shot, render
    token = encode_token(new_application_id(), bytes(range(16)))
    url = progress.status_url("https://madoguchi-shinsei.kakuu-shi.example.jp", token)
    assert check_of(url) == "valid" and check_of(url[:-1] + ("0" if url[-1] != "0" else "1")) == "invalid"
    frame = render(url, Shot(qr_width=190.0, roll=8.0, tilt_x=10.0))
    assert url in decode_frame(frame).texts
