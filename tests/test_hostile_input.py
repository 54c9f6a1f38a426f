"""Each cause of a 500 the fuzzing pass found (issue 10), as a regression test: typed digits
that are not ASCII or full-width, huge numbers, lone surrogates and deep nesting in JSON,
wrong JSON types, far dates on the counter, one pre-registration opened at two places, a
database that cannot be written, and the project's own error pages and logs."""
from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from core import exchange_log as xlog
from core import sealed
from core.application import State
from core.japanese import parse_typed_number
from core.json_input import BadJSON, loads
from core.store.applications import AlreadyStored, ApplicationStore
from core.store.db import can_write, open_from_config
from tests.fixtures_counter import CERTIFICATE, csrf_token, kiosk_application, post, sign_in, text_of
from tests.helpers import MOVE_IN_EXTRAS
from tests.kiosk_helpers import Kiosk
from tests.prereg_helpers import Walker, answer_guide

PERSONAL = "秘密\u3000太郎"


# --- typed digits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, value", [("12", 12), ("１２", 12), (" 7 ", 7), ("0", 0), ("999999999", 999999999)])
def test_ascii_and_full_width_digits_are_numbers(typed, value):
    assert parse_typed_number(typed) == value


@pytest.mark.parametrize("typed", ["᧚", "𐩀", "²", "٣", "①", "-1", "+1", "1.5", "1 2", "", "1_0", "9" * 10, "9" * 5000,
                                   "99999999999999999999"])
def test_other_digits_and_huge_numbers_are_not(typed):
    assert parse_typed_number(typed) is None


def test_prereg_dates_and_numbers_with_odd_digits_are_field_errors(walker):
    from core.answers import date_from_parts as parse_date_parts
    assert parse_date_parts("western", "᧚", "1", "1") == (None, "bad_date")
    assert parse_date_parts("western", "99999999999999999999", "1", "1") == (None, "bad_date")
    assert parse_date_parts("showa", "²", "1", "1") == (None, "bad_date")
    assert parse_date_parts("western", "１９８５", "４", "１") == ("1985-04-01", None)
    walker.get("/prereg/event")
    walker.post({"event": "certificates"})
    walker.post({"procedures": ["juminhyo"]})
    r = walker.client.post("/prereg/q/birth_date?lang=en", data={
        "csrf_token": csrf_token(walker.client), "birth_date__era": "western", "birth_date__year": "᧚",
        "birth_date__month": "1", "birth_date__day": "1"})
    assert r.status_code == 400 and "must be a real date" in text_of(r)
    r = walker.client.post("/prereg/q/juminhyo_copies?lang=en", data={
        "csrf_token": csrf_token(walker.client), "juminhyo_copies": "9" * 5000})
    assert r.status_code == 400 and "must be a whole number" in text_of(r)


def test_the_prereg_household_members_date_with_odd_digits(walker):
    walker.get("/prereg/event")
    walker.post({"event": "moving_in"})
    answer_guide(walker)
    walker.post({"procedures": ["juminido"]})
    r = walker.client.post("/prereg/household/0?lang=en", data={
        "csrf_token": csrf_token(walker.client), "m_name": PERSONAL, "m_birth_date__era": "western",
        "m_birth_date__year": "᧚", "m_birth_date__month": "1", "m_birth_date__day": "1"})
    assert r.status_code == 400 and "must be a real date" in text_of(r)
    assert PERSONAL in r.get_data(as_text=True)    # what was typed is shown again, not lost


@pytest.fixture
def visitor(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido", "juminhyo"])
    return kiosk


def test_kiosk_answers_with_odd_digits_are_explained(visitor):
    r = visitor.post("/kiosk/ask/move_date", {"era": "western", "year": "᧚", "month": "1", "day": "1"})
    assert r.status_code == 400 and "Date of move must be a real date" in visitor.text
    r = visitor.post("/kiosk/ask/move_date", {"era": "western", "year": "99999999999999999999", "month": "1",
                                              "day": "1"})
    assert r.status_code == 400
    r = visitor.post("/kiosk/ask/juminhyo_copies", {"value": "𐩀"})
    assert r.status_code == 400 and "juminhyo_copies" not in visitor.visit().values
    r = visitor.post("/kiosk/ask/juminhyo_copies", {"value": "9" * 5000})
    assert r.status_code == 400


def test_kiosk_household_remove_with_odd_digits_removes_nobody(visitor):
    member = {"name": "山田　花子", "birth_era": "western", "birth_year": "1987", "birth_month": "9", "birth_day": "12",
              "sex": "female", "relationship": "spouse"}
    r = visitor.post("/kiosk/ask/household/member", {**member, "birth_year": "᧚"})
    assert r.status_code == 400 and not visitor.visit().values.get("household")
    visitor.post("/kiosk/ask/household/member", member)
    for action in ("remove:᧚", "remove:99999999999999999999", "remove:²"):
        r = visitor.post("/kiosk/ask/household", {"action": action})
        assert r.status_code == 302
    assert len(visitor.visit().values["household"]) == 1
    visitor.post("/kiosk/ask/household", {"action": "remove:0"})
    assert not visitor.visit().values.get("household")


def test_kiosk_household_pages_ignore_query_arguments_they_do_not_use(visitor):
    # `name` in the query once collided with url_for's own argument (TypeError, a 500)
    assert visitor.get("/kiosk/ask/household/member?name=x&back=confirm").status_code == 200
    assert visitor.get("/kiosk/ask/household?name=x").status_code == 200
    visitor.post("/kiosk/ask/household/member?name=x", {"name": "山田　花子", "birth_year": "1987", "birth_month": "9",
                                                     "birth_day": "12", "sex": "female", "relationship": "spouse"})
    assert len(visitor.visit().values["household"]) == 1
    r = visitor.post("/kiosk/ask/household?name=x&back=confirm", {"action": "remove:0"})
    assert r.status_code == 302 and r.location == "/kiosk/ask/household?back=confirm"


def test_kiosk_events_with_odd_digits_in_since_and_last_event_id(visitor):
    r = visitor.client.get("/kiosk/events?since=²&wait=0")
    assert r.status_code == 200
    r = visitor.client.get("/kiosk/events?wait=0", headers={"Last-Event-ID": "²"})
    assert r.status_code == 200


# --- JSON ------------------------------------------------------------------------------------------

def test_the_json_loader_refuses_what_the_code_cannot_handle():
    assert loads(b'{"a": [1, "\\ud83d\\ude00"]}') == {"a": [1, "\U0001F600"]}   # a pair is one character
    for body, code in [(b'{"name": "\\ud800"}', "bad_text"), (b'{"\\udfff": 1}', "bad_text"),
                       (b"[" * 1000 + b"]" * 1000, "too_deep"), (b'{"a":' * 1000 + b"1" + b"}" * 1000, "too_deep"),
                       (b"[" * 100000, "too_deep"), (b"1" + b"0" * 5000, "bad_json"), (b"NaN", "bad_json"),
                       (b"\xff", "bad_json"), (b"", "bad_json"), (b'"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["', None)]:
        if code is None:
            assert loads(body).startswith("[")              # brackets inside a string are not nesting
            continue
        with pytest.raises(BadJSON) as e:
            loads(body)
        assert e.value.code == code


PREREG_FORM = {"procedures": ["juminido"], "name": "山田　太郎", "kana": "ヤマダ　タロウ", "birth_date": "1985-04-01",
               "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－１",
               "move_type": "tennyu", "move_date": "2026-11-01", "previous_postal_code": "0600000",
               "previous_address": "北海道札幌市中央区北１条西２丁目", **MOVE_IN_EXTRAS}


def raw_post(client, path, body: bytes, **kw):
    return client.post(path, data=body, content_type="application/json", **kw)


def test_prereg_api_refuses_surrogates_depth_and_wrong_types(client, caplog):
    caplog.set_level(logging.INFO)
    r = raw_post(client, "/prereg/api/v1/applications", b'{"procedures": ["juminhyo"], "name": "\\ud800"}')
    assert r.status_code == 400 and r.get_json()["error"] == "bad_text"
    r = raw_post(client, "/prereg/api/v1/applications", b"[" * 1000 + b"]" * 1000)
    assert r.status_code == 400 and r.get_json()["error"] == "too_deep"
    r = raw_post(client, "/prereg/api/v1/postal-code", b'{"postal_code":' * 1000 + b"1" + b"}" * 1000)
    assert r.status_code == 400 and r.get_json()["error"] == "too_deep"
    member = {"name": PERSONAL, "birth_date": "1987-09-12"}
    for relationship in (["spouse"], {"a": 1}, 7):
        r = client.post("/prereg/api/v1/applications",
                        json={**PREREG_FORM, "household": [{**member, "relationship": relationship}]})
        assert r.status_code == 422, r.get_json()
        assert [e["field"] for e in r.get_json()["errors"]] == ["household[0].relationship"]
    r = client.post("/prereg/api/v1/applications", json={**PREREG_FORM, "sex": ["male"]})
    assert r.status_code == 422
    r = client.post("/prereg/api/v1/applications", json={**PREREG_FORM, "birth_date": "᧚᧚᧚᧚-01-01"})
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "bad_date"
    assert PERSONAL not in caplog.text


def kiosk_office_upload(**data):
    return {"kiosk_id": "kiosk-7", "application": {
        "id": "0123456789ABCDEF", "state": "printed", "procedures": ["juminhyo"],
        "data": {"name": "山田　太郎", "kana": "ヤマダ　タロウ", "birth_date": "1980-05-17", "sex": "male",
                 "postal_code": "1000013", "address": "東京都千代田区霞が関２丁目１－２", "juminhyo_scope": "self",
                 "juminhyo_copies": 1, **data},
        "sources": {"name": ["card"]}, "reception_number": "K-004"},
        "exchanges": [{"purpose": "print", "counterparty": "printer", "at": "2026-11-02T01:03:00+00:00"}]}


def test_kiosk_office_api_refuses_surrogates_and_depth(kiosk_app):
    from core.keys import kiosk_device_token
    from kiosk.office import device_token
    app = kiosk_app(with_counter=True)
    client = app.test_client()
    auth = {"Authorization": "Bearer " + device_token(kiosk_device_token(app.config["MADOGUCHI"]), "kiosk-7", "K")}
    body = json.dumps(kiosk_office_upload(name="\ud800")).encode()
    r = raw_post(client, "/kiosk/api/v1/applications", body, headers=auth)
    assert r.status_code == 400 and r.get_json()["error"] == "bad_text"
    upload = kiosk_office_upload()
    upload["exchanges"][0]["counterparty"] = "\udc00"
    r = raw_post(client, "/kiosk/api/v1/applications", json.dumps(upload).encode(), headers=auth)
    assert r.status_code == 400 and r.get_json()["error"] == "bad_text"
    r = raw_post(client, "/kiosk/api/v1/applications", b"[" * 1000 + b"]" * 1000, headers=auth)
    assert r.status_code == 400 and r.get_json()["error"] == "too_deep"
    # a list where a source name is expected is left out, not a 500
    r = raw_post(client, "/kiosk/api/v1/applications", json.dumps(kiosk_office_upload()).encode(), headers=auth)
    assert r.status_code == 201, r.get_json()


def test_pull_ack_refuses_surrogates_and_depth(config):
    from web import create_app
    app = create_app(config.replace({"backend": {"mode": "pull"}, "keys": {"pull_api_key": "k" * 24}}))
    client = app.test_client()
    auth = {"Authorization": "Bearer " + "k" * 24}
    r = raw_post(client, "/counter/api/v1/records/ack", b'{"idempotency_keys": ["\\ud800"]}', headers=auth)
    assert r.status_code == 400 and r.get_json()["error"] == "bad_text"
    r = raw_post(client, "/counter/api/v1/records/ack", b"[" * 1000 + b"]" * 1000, headers=auth)
    assert r.status_code == 400 and r.get_json()["error"] == "too_deep"
    r = client.get("/counter/api/v1/records?since=²", headers=auth)
    assert r.status_code == 400


# --- far dates on the counter -----------------------------------------------------------------------

@pytest.fixture(params=["Asia/Tokyo", "Pacific/Honolulu"])
def server_time_zone(request, monkeypatch):
    """The server's own zone: Japan, and a zone west of UTC."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_far_days_on_the_counter_are_words_not_overflows(app, clerk_client, server_time_zone):
    from datetime import datetime

    from counter import casework
    # the counter's days are Japan's days, whatever zone the server's clock is in
    assert casework.local_tz().utcoffset(datetime(2026, 1, 1)) == timedelta(hours=9)
    for day in ("9999-12-31", "0001-01-01", "2100-12-31", "1868-01-01"):
        assert clerk_client.get(f"/counter/?day={day}").status_code == 200
    supervisor = sign_in(app.test_client(), "suzuki")
    for query in ("to=9999-12-31", "to=0001-01-01", "from=0001-01-01", "from=0001-01-01&to=0001-01-02"):
        r = supervisor.get(f"/counter/figures?lang=en&{query}")
        assert r.status_code == 400 and "Enter dates as YYYY-MM-DD." in text_of(r), query
        assert supervisor.get(f"/counter/figures.csv?{query}").status_code < 500
    assert supervisor.get("/counter/figures?lang=en&from=2100-01-01&to=2100-12-31").status_code == 200


# --- one pre-registration opened at two places ------------------------------------------------------

PREREG = {"procedures": ["juminhyo"], "name": "髙橋　𠮷子", "kana": "タカハシ　ヨシコ", "birth_date": "1952-01-15",
          "sex": "female", "postal_code": "1000001", "address": "東京都千代田区千代田２－３", "phone": "090-1111-2222",
          "juminhyo_scope": "self", "juminhyo_copies": 1}


def prints_in_log(db, app_id):
    return [e for e in xlog.entries(db) if e["purpose"] == "print" and e["application_id"] == app_id]


def test_two_kiosks_open_one_pre_registration_and_the_second_print_says_it_is_in_use(kiosk_app):
    # two kiosks (each serves its own paired browser) on one office database
    first = Kiosk(kiosk_app(devices={"emulator_persona": ""}, kiosk={"kiosk_id": "kiosk-1"}))
    second = Kiosk(kiosk_app(devices={"emulator_persona": ""}, kiosk={"kiosk_id": "kiosk-2", "reception_prefix": "B"}))
    db = open_from_config(first.config)
    token = sealed.store(db, PREREG, days=30)
    for k in (first, second):
        k.start("en")
        assert k.post("/kiosk/qr", {"code": token.token}).location == "/kiosk/confirm"
    first.print_and_wait()
    assert ApplicationStore(db).get(token.app_id).state == State.PRINTED
    r = second.post("/kiosk/print")
    assert r.status_code == 302 and "notice=prereg_in_use" in r.location
    second.get(r.location)           # the start page, in the kiosk's own language
    assert "この事前申請は窓口または別のキオスクで使用中のため" in second.text
    assert second.visit() is None or second.visit().values == {}
    # nothing of the second visit: one application, one print, one reception number taken
    assert ApplicationStore(db).count() == 1 and len(prints_in_log(db, token.app_id)) == 1
    assert db.execute("SELECT count(*) FROM applications WHERE reception_number IS NOT NULL").fetchone()[0] == 1


def test_the_counter_opens_it_while_a_kiosk_has_it_and_the_kiosk_print_says_it_is_in_use(kiosk_app, clerks):
    app = kiosk_app(devices={"emulator_persona": ""}, with_counter=True)
    visitor = Kiosk(app)
    db = open_from_config(visitor.config)   # the same database the `clerks` were added to
    token = sealed.store(db, PREREG, days=30)
    visitor.start("en")
    visitor.post("/kiosk/qr", {"code": token.token})
    clerk = sign_in(app.test_client())
    r = post(clerk, "/counter/open", {"code": token.token})
    assert r.status_code == 302 and token.app_id in r.location
    r = visitor.post("/kiosk/print")
    assert "notice=prereg_in_use" in r.location
    stored = ApplicationStore(db).get(token.app_id)
    assert stored.channel == "counter" and stored.state == State.SUBMITTED
    assert prints_in_log(db, token.app_id) == []


def test_saving_a_new_application_whose_id_is_taken_is_a_coded_error(db):
    app = kiosk_application(db, CERTIFICATE)
    from core.application import Application, Source
    again = Application.create(app.procedures, app.data, Source.TYPED, actor="kiosk:x", channel="kiosk",
                               application_id=app.id)
    with pytest.raises(AlreadyStored) as e:
        ApplicationStore(db).save(again)
    assert e.value.code == "already_stored" and "山" not in str(e.value)
    assert not db.conn.in_transaction


# --- a database that cannot be written --------------------------------------------------------------

# PostgreSQL has no database-wide write lock; its lock timeouts are tests/test_postgres_store.py's.
SQLITE_WRITE_LOCK = "SQLite's database-wide write lock, held by another process"
HOLD_LOCK = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
c.execute("ROLLBACK")
"""


@pytest.fixture
def held_lock(config):
    """Another process holding the database's write lock (BEGIN IMMEDIATE) until the test ends."""
    open_from_config(config).conn.close()   # created and migrated
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(config.path(config.storage.path))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.communicate("\n", timeout=10)


@pytest.mark.sqlite_only(SQLITE_WRITE_LOCK)
def test_a_write_lock_held_elsewhere_is_503_with_retry_after_and_words(app, held_lock):
    client = app.test_client()
    started = time.monotonic()
    r = client.post("/prereg/api/v1/applications", json={**PREREG_FORM, "procedures": ["juminido"]})
    assert time.monotonic() - started < 5          # the short request busy timeout, not 10 s
    assert r.status_code == 503 and r.get_json()["error"] == "database_unavailable"
    assert int(r.headers["Retry-After"]) > 0
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["database"] == "not writable" and "Retry-After" in r.headers


@pytest.mark.sqlite_only(SQLITE_WRITE_LOCK)
def test_a_page_that_cannot_save_is_503_in_the_users_language(app, held_lock):
    client = app.test_client()
    w = Walker(client, "ja")
    w.get("/prereg/event")
    r = client.post("/prereg/event?lang=ja", data={"csrf_token": csrf_token(client), "event": "certificates"})
    assert r.status_code == 503 and "Retry-After" in r.headers
    assert "ただいま混み合っています" in text_of(r) and "秒待ってから" in text_of(r)


def test_healthz_says_writable_when_it_is(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["database"] == "writable"


@pytest.fixture
def read_only_database(config):
    """The database file made read-only for real: chattr +i as root (chmod does not stop root), chmod otherwise."""
    open_from_config(config).conn.close()
    path = config.path(config.storage.path)
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("this file system has no immutable flag")
        yield path
        subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o400)
        yield path
        path.chmod(0o600)


def test_a_read_only_database_is_503_and_healthz_says_not_writable(app, read_only_database, config):
    db = open_from_config(config)
    assert not can_write(db)
    db.conn.close()
    client = app.test_client()
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["database"] == "not writable"
    r = client.post("/prereg/api/v1/applications", json=PREREG_FORM)
    assert r.status_code == 503 and r.get_json()["error"] == "database_unavailable" and r.headers["Retry-After"]


@pytest.mark.sqlite_only(SQLITE_WRITE_LOCK)
def test_blocked_writers_do_not_take_every_server_thread(live_server, config_file, tmp_path):
    """With the write lock held elsewhere, a burst of writers gets 503 quickly and /healthz and the
    kiosk still answer within a second or two."""
    import concurrent.futures

    import requests

    from core.config import load_config
    from tests.kiosk_helpers import pair_session
    server = live_server()
    config = load_config(config_file, base_dir=tmp_path)
    kiosk_browser = pair_session(requests.Session(), config)      # paired before the lock is taken
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(config.path(config.storage.path))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            writers = [pool.submit(requests.post, server.url + "/prereg/api/v1/applications", json=PREREG_FORM,
                                   timeout=30) for _ in range(12)]
            time.sleep(0.2)
            started = time.monotonic()
            health = requests.get(server.url + "/healthz", timeout=30)
            kiosk = kiosk_browser.get(server.url + "/kiosk/", timeout=30)
            answered = time.monotonic() - started
            statuses = [f.result().status_code for f in writers]
        assert health.status_code == 503 and health.json()["database"] == "not writable"
        assert kiosk.status_code == 200
        assert answered < 4, answered
        assert set(statuses) == {503}
    finally:
        proc.communicate("\n", timeout=10)
    assert "Traceback" not in server.output()


# --- error pages and logs ---------------------------------------------------------------------------

@pytest.mark.parametrize("path, method, status, words", [
    ("/counter/no-such-page", "get", 404, "ページが見つかりません"),
    ("/kiosk/no-such-page", "get", 404, "ページが見つかりません"),
    ("/kiosk/print", "get", 405, "このページはその方法では使えません"),
    ("/kiosk/end", "post", 400, "このページの有効期限が切れました"),   # no CSRF token
    ("/counter/open", "get", 405, "このページはその方法では使えません"),
])
def test_counter_and_kiosk_show_the_projects_error_page(client, path, method, status, words):
    r = getattr(client, method)(path + "?lang=ja")
    assert r.status_code == status and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert words in text_of(r) and 'class="site-header"' in page and "Werkzeug" not in page


def test_an_unexpected_error_logs_its_type_and_route_without_values(app, monkeypatch, caplog):
    from kiosk import blueprint
    caplog.set_level(logging.INFO)

    def broken(*a, **kw):
        raise ValueError(f"cannot parse {PERSONAL}")
    monkeypatch.setattr(blueprint, "render_template", broken)
    r = app.test_client().get("/kiosk/?lang=en")
    assert r.status_code == 500 and "Sorry, there is a problem with the service" in text_of(r)
    assert PERSONAL not in r.get_data(as_text=True) and "Traceback" not in r.get_data(as_text=True)
    assert "ValueError" in caplog.text and "/kiosk/" in caplog.text
    assert PERSONAL not in caplog.text and all(rec.exc_info is None for rec in caplog.records)


def test_api_errors_are_json(client):
    r = client.get("/prereg/api/v1/no-such")
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"


# --- files with personal data ------------------------------------------------------------------------

def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.sqlite_only("the modes of SQLite's database and WAL files")
def test_database_and_its_wal_files_are_0600_in_a_0700_folder(config):
    old = os.umask(0o022)   # the usual umask, which would give 0644 files in 0755 folders
    try:
        db = open_from_config(config)
        with db.conn:
            db.conn.execute("CREATE TABLE IF NOT EXISTS mode_probe (a)")
            db.conn.execute("INSERT INTO mode_probe VALUES (1)")
        path = config.path(config.storage.path)
        for p in (path, f"{path}-wal", f"{path}-shm"):
            assert os.path.exists(p) and mode(p) == 0o600, (p, oct(mode(p)))
        assert mode(path.parent) == 0o700
        db.conn.close()
    finally:
        os.umask(old)


@pytest.mark.sqlite_only("the mode of SQLite's database file")
def test_an_older_databases_loose_mode_is_tightened(config):
    db = open_from_config(config)
    db.conn.close()
    path = config.path(config.storage.path)
    os.chmod(path, 0o644)
    open_from_config(config).conn.close()
    assert mode(path) == 0o600


def test_outbox_files_keys_and_printed_pdfs_are_private(config, tmp_path):
    from core.keys import read_or_create
    from counter.forwarding import write_atomically
    from hardware.printer.folder import PdfFolderPrinter
    old = os.umask(0o022)
    try:
        out = tmp_path / "new" / "outbox" / "K.jsonl"
        write_atomically(out, b'{"name": "x"}\n')
        assert mode(out) == 0o600 and mode(out.parent) == 0o700 and mode(out.parent.parent) == 0o700
        read_or_create(config, "probe.key")
        key = config.path(config.keys.dir) / "probe.key"
        assert mode(key) == 0o600 and mode(key.parent) == 0o700
        result = PdfFolderPrinter(tmp_path / "printed-new").print_pdf(b"%PDF-1.4\n%%EOF\n", "madoguchi test")
        assert mode(result.path) == 0o600 and mode(tmp_path / "printed-new") == 0o700
    finally:
        os.umask(old)


@pytest.fixture
def data_folder_mount(tmp_path):
    """The test's data folder ([storage] and [keys] live in it) on a file system of its own: a small
    tmpfs, which the test can fill or make read-only for real (as root; skipped where mount is refused)."""
    var = tmp_path / "var"
    var.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(var)],
                      capture_output=True).returncode != 0:
        pytest.skip("no permission to mount a tmpfs")
    yield var
    subprocess.run(["umount", "-l", str(var)], check=True)


def unwritable_answers(config):
    """The answers of a fresh server (no connection opened yet) to a page, a JSON write and /healthz."""
    from web import create_app
    app = create_app(config)
    app.config["TESTING"] = True
    client = app.test_client()
    return {"page": client.get("/prereg/?lang=ja"), "kiosk": client.get("/kiosk/"),
            "api": client.post("/prereg/api/v1/applications", json=PREREG_FORM), "healthz": client.get("/healthz")}


@pytest.mark.parametrize("case", ["read_only_before_the_database_exists", "read_only_with_a_loose_file_mode",
                                  "read_only", "full"])
@pytest.mark.sqlite_only("SQLite's file in a read-only or full data folder (PostgreSQL's: test_postgres_store)")
def test_a_read_only_or_full_data_folder_is_503_with_retry_after(config, data_folder_mount, case):
    from core.keys import ensure_keys
    ensure_keys(config)
    path = config.path(config.storage.path)
    if case != "read_only_before_the_database_exists":
        open_from_config(config).conn.close()
    if case == "read_only_with_a_loose_file_mode":
        path.chmod(0o644)   # as an older version left it: opening tightens it, which a read-only folder refuses
    if case == "full":
        with open(data_folder_mount / "filler", "wb") as filler:
            with pytest.raises(OSError):
                while True:
                    filler.write(b"\0" * 65536)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(data_folder_mount)], check=True)
    answers = unwritable_answers(config)
    for name, r in answers.items():
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0, (name, r.status_code)
    assert "ただいま混み合っています" in text_of(answers["page"])
    assert answers["api"].get_json()["error"] == "database_unavailable"
    assert answers["healthz"].get_json()["database"] == "not writable"


@pytest.mark.sqlite_only("SQLite's file in a data folder the service may not write")
def test_a_data_folder_the_service_may_not_write_is_503(config, monkeypatch):
    """Not root: a folder without write permission refuses the new database file (root ignores
    permissions, so the refusal is made here the way os.open makes it)."""
    import errno

    from core.store import db as store_db

    def refused(path, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    monkeypatch.setattr(store_db, "create_private", refused)
    answers = unwritable_answers(config)
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 503)
