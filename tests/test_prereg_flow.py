"""The wizard without JavaScript (Flask's test client), its state, its safety, and purging."""
from __future__ import annotations

import re
from datetime import timedelta

import requests

from core import sealed
from core.application import utcnow
from core.catalogue import get_catalogue
from prereg import drafts
from prereg.flow import Flow
from tests.helpers import everything_stored, madoguchi
from tests.prereg_helpers import CSRF_RE, Walker, answer_all, answer_guide, date_parts

NAME, KANA, STREET = "秘密\u3000花子", "ヒミツ\u3000ハナコ", "９９－９９\u3000秘密荘"
CERT_ANSWERS = {
    "name": {"name": NAME}, "kana": {"kana": "ひみつ　はなこ"},
    "birth_date": date_parts("birth_date", 63, 12, 1, "showa"),
    "sex": {"sex": "female"}, "postal_code": {"postal_code": "１００-０００１"},
    "address": {"address__town": "東京都千代田区千代田", "address__rest": STREET},
    "phone": {"phone": ""}, "juminhyo_scope": {"juminhyo_scope": "self"}, "juminhyo_copies": {"juminhyo_copies": "1"},
    "juminhyo_include_head": {}, "juminhyo_include_honseki": {}, "juminhyo_include_my_number": {},
    "juminhyo_purpose": {},
    # 住民異動届: the person is the head, a Japanese national, and gives notice themself.
    "relationship_to_head": {"relationship_to_head": "head"}, "tokurei_tennyu": {"tokurei_tennyu": "no"},
    "previous_resident_code": {"previous_resident_code": ""}, "nationality_kind": {"nationality_kind": "japanese"},
    "honseki": {"honseki__town": "北海道札幌市中央区", "honseki__rest": "北１条西２丁目１番地"},
    "hittousha": {"hittousha": NAME},
    "notifier_type": {"notifier_type": "self"},
}


def start(walker, event="certificates", procedures=("juminhyo",)):
    walker.get("/prereg/event")
    walker.post({"event": event})
    answer_guide(walker)
    walker.post({"procedures": list(procedures)})


def test_a_certificate_request_from_start_to_qr(walker, config, db):
    start(walker)
    assert walker.at() == "/prereg/q/name"
    answer_all(walker, CERT_ANSWERS)
    assert "1988年12月1日（昭和63年）" in walker.page and "未回答" in walker.page
    walker.post({})
    assert walker.at() == "/prereg/done"
    png = walker.client.get("/prereg/done/qr.png")
    assert png.mimetype == "image/png" and png.headers["Cache-Control"] == "no-store"
    download = walker.client.get("/prereg/done/qr.png?download=1")
    assert "attachment" in download.headers["Content-Disposition"]
    assert walker.client.get("/prereg/done/print").status_code == 200
    token = walker.client.get_cookie("session")  # the token lives only in the resident's cookie
    assert token is not None
    rows = db.execute("SELECT count(*) FROM sealed_applications").fetchone()[0]
    assert rows == 1 and db.execute("SELECT count(*) FROM prereg_drafts").fetchone()[0] == 0


def test_without_javascript_the_address_page_is_prefilled_from_the_postal_code(walker):
    start(walker)
    answer_all_until(walker, "address")
    assert 'value="東京都千代田区千代田"' in walker.page
    assert "郵便番号100-0001から住所の前半を入力しました" in walker.page


def answer_all_until(walker, stop):
    for _ in range(30):
        name = walker.at().rsplit("/", 1)[-1]
        if name == stop:
            return
        walker.post(CERT_ANSWERS[name])
    raise AssertionError("never reached " + stop)


def test_a_change_from_the_check_page_returns_to_it(walker):
    start(walker)
    answer_all(walker, CERT_ANSWERS)
    walker.get("/prereg/q/juminhyo_copies")
    assert re.search(r'class="back-link" href="/prereg/check"', walker.page)
    walker.post({"juminhyo_copies": "4"})
    assert walker.at() == "/prereg/check" and "<dd class=\"summary-value\">4</dd>" in walker.page


def test_changing_the_postal_code_asks_for_the_address_again(walker):
    start(walker)
    answer_all(walker, CERT_ANSWERS)
    walker.get("/prereg/q/postal_code")
    walker.post({"postal_code": "060-0000"})
    assert walker.at() == "/prereg/q/address"
    # The new town is offered; what was typed after the town is kept.
    assert 'value="北海道札幌市中央区"' in walker.page and STREET in walker.page


def test_a_changed_answer_drops_questions_that_no_longer_apply(walker):
    start(walker, "moving_out", ("juminido",))
    answers = dict(CERT_ANSWERS, move_date=date_parts("move_date", 2026, 12, 1),
                   new_postal_code={"new_postal_code": "0600000"},
                   new_address={"new_address__town": "北海道札幌市中央区", "new_address__rest": "1-1"})
    answer_all(walker, answers)
    assert "転出（他の市区町村へ引越す）" in walker.page and "北海道札幌市中央区1-1" in walker.page
    walker.get("/prereg/q/move_type")
    walker.post({"move_type": "tenkyo"})
    # 転居 asks for the previous address (new questions), and forgets the new one.
    assert walker.at() == "/prereg/q/previous_postal_code"
    walker.post({"previous_postal_code": ""})
    walker.post({"previous_address__town": "", "previous_address__rest": "旧住所"})
    assert walker.at() == "/prereg/check"
    assert "北海道札幌市中央区1-1" not in walker.page and "旧住所" in walker.page


def test_household_members_can_be_added_changed_and_removed(walker):
    start(walker, "moving_within", ("juminido",))
    answer_all_until_household = dict(CERT_ANSWERS)
    for _ in range(12):
        if walker.at().endswith("/q/household"):
            break
        walker.post(answer_all_until_household[walker.at().rsplit("/", 1)[-1]])
    walker.post({})
    assert "いっしょに" in walker.page or "一緒に手続きする方がいる場合は" in walker.page  # error: choose yes/no
    walker.post({"add": "yes"})
    assert walker.at() == "/prereg/household/0"
    walker.post({"m_name": "", "m_kana": "x", "m_sex": "female"})
    assert "氏名を入力してください" in walker.page and "フリガナはカタカナで入力してください" in walker.page
    assert "続柄（世帯主との関係）を選んでください" in walker.page
    person = {"m_name": "同居\u3000一子", "m_kana": "ドウキョ\u3000イチコ", **date_parts("m_birth_date", 2010, 5, 5),
              "m_sex": "female", "m_relationship": "child"}
    walker.post(person)
    walker.post({"add": "yes"})
    walker.post(dict(person, m_name="同居\u3000二郎", m_sex="male"))
    assert "2人を追加しました" in walker.page
    walker.get("/prereg/household/1")
    walker.post(dict(person, m_name="同居\u3000次郎", m_sex="male"))
    assert "同居\u3000次郎" in walker.page
    walker.get("/prereg/household/0/remove")
    walker.post({"remove": "yes"})
    assert "1人を追加しました" in walker.page and "同居\u3000一子" not in walker.page
    walker.post({"add": "no"})
    assert walker.at() == "/prereg/q/relationship_to_head"     # the person's own 続柄, after the household's
    walker.post({"relationship_to_head": "head"})
    assert walker.at() == "/prereg/q/move_date"  # move_type is implied by the life event


def test_server_side_limits_and_messages(walker):
    start(walker)
    walker.post({"name": "あ" * 61})
    assert "氏名は60文字以内で入力してください" in walker.page
    assert "あ" * 61 in walker.page  # what was typed is shown again
    walker.post({"name": "a\x07b"})
    assert "使えない文字" in walker.page
    walker.post({"name": NAME})
    walker.post({"kana": KANA})
    walker.post(date_parts("birth_date", 2099, 1, 1))
    assert "今日より後の日付は入力できません" in walker.page
    walker.post(date_parts("birth_date", 1990, 2, ""))
    assert "年・月・日をすべて" in walker.page
    walker.post(date_parts("birth_date", 1, 5, 1, "reiwa"))
    assert walker.at() == "/prereg/q/sex"
    walker.post({"sex": "robot"})
    assert "選択肢から選んでください" in walker.page


def test_forms_need_the_csrf_token(client):
    client.get("/prereg/event")
    r = client.post("/prereg/event", data={"event": "certificates"})
    assert r.status_code == 400 and "このページの有効期限が切れました" in r.get_data(as_text=True)


def test_security_headers_on_prereg_pages(client, config):
    r = client.get("/prereg/")
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Frame-Options"] == "DENY"
    from web import create_app
    tls = create_app(config.replace({"server": {"behind_tls": True}})).test_client()
    r = tls.get("/prereg/", headers={"X-Forwarded-Proto": "https"})
    assert "max-age" in r.headers["Strict-Transport-Security"]
    page = client.get("/prereg/event").get_data(as_text=True)
    assert "<script>" not in page and " style=" not in page and "onclick" not in page


def test_the_web_submission_is_rate_limited_and_keeps_the_answers(config):
    from web import create_app
    app = create_app(config.replace({"prereg": {"submissions_per_minute": 1}}))
    w = Walker(app.test_client(), "ja")
    start(w)
    answer_all(w, CERT_ANSWERS)
    w.post({})
    assert w.at() == "/prereg/done"
    start(w)
    answer_all(w, CERT_ANSWERS)
    r = w.post({}, expect=429)
    assert int(r.headers["Retry-After"]) >= 1 and "送信の回数が多すぎます" in w.page
    assert "秘密" in w.get("/prereg/check")  # the draft is still there


def test_withdraw_from_the_confirmation_page(walker, db):
    start(walker)
    answer_all(walker, CERT_ANSWERS)
    walker.post({})
    assert sealed.count(db) == 1
    walker.get("/prereg/withdraw")
    walker.post({})
    assert "申請を取り下げました" in walker.page and sealed.count(db) == 0
    assert walker.client.get("/prereg/done").status_code == 302


def test_drafts_are_unreadable_without_the_cookie(walker, db):
    start(walker)
    walker.post({"name": NAME})
    row = db.execute("SELECT sealed FROM prereg_drafts").fetchone()
    assert row and NAME.encode() not in row[0] and "秘密".encode() not in row[0]
    # Another browser (another session) sees an empty wizard.
    other = Walker(walker.client.application.test_client(), "ja")
    r = other.client.get("/prereg/q/name")
    assert r.status_code == 302 and r.headers["Location"].endswith("/prereg/event")


def test_flow_state_rules():
    cat = get_catalogue()
    flow = Flow(cat)
    flow.set_event("moving_in")
    assert flow.procedures == ["juminido"] and flow.values == {"move_type": "tennyu"}
    assert "move_type" not in [f.name for f in flow.fields() if f.name not in flow.data["visited"]]
    flow.set_event("certificates")  # another event: its presets go, and so do the procedures
    assert flow.procedures == [] and flow.values == {}
    flow.set_procedures(["juminhyo", "zei_shomei"])
    names = [f.name for f in flow.fields()]
    assert names[:7] == ["name", "kana", "birth_date", "sex", "postal_code", "address", "phone"]
    assert "tax_fiscal_year" in names and "household" not in names
    flow.answer("juminhyo_copies", 2)
    flow.set_procedures(["zei_shomei"])
    assert "juminhyo_copies" not in flow.values


def test_purge_command_and_expired_drafts(config_file, config, db):
    old = sealed.store(db, {"procedures": ["juminhyo"]}, days=30, now=utcnow() - timedelta(days=31))
    keep = sealed.submit(config, db, {"procedures": ["juminhyo"]})
    handle = drafts.new_handle()
    drafts.save(db, handle, {"values": {}}, now=utcnow() - timedelta(hours=drafts.DRAFT_HOURS + 1))
    assert drafts.load(db, handle) is None  # expired drafts are never served
    result = madoguchi("purge", config_file=config_file)
    assert result.returncode == 0, result.stderr
    assert "purged 1 expired pre-registrations, 1 stale drafts" in result.stdout
    assert [r[0] for r in db.execute("SELECT id FROM sealed_applications")] == [keep.app_id]
    assert old.app_id not in result.stdout


def test_serve_purges_on_a_timer(config):
    """`madoguchi serve` starts the purge service; it purges at once, then every interval."""
    import time

    from core.store.db import open_from_config
    from web import create_app
    db = open_from_config(config)
    sealed.store(db, {"procedures": ["juminhyo"]}, days=1, now=utcnow() - timedelta(days=2))
    app = create_app(config, "prereg")
    from prereg.blueprint import start_purge_timer
    assert start_purge_timer in app.extensions["madoguchi.services"]
    stop = start_purge_timer(app)
    try:
        deadline = time.monotonic() + 5
        while sealed.count(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sealed.count(db) == 0
    finally:
        stop()


def test_no_personal_data_in_the_database_or_the_log(live_server, config, db):
    """Submit a known name through the real server, then search every database file and the log."""
    server = live_server("prereg")
    s = requests.Session()
    page = s.get(server.url + "/prereg/event?lang=ja", timeout=5).text

    def post(path, data):
        nonlocal page
        token = CSRF_RE.search(page).group(1)
        r = s.post(server.url + path, data={"csrf_token": token, **data}, timeout=10)
        page = r.text
        return r

    post("/prereg/event", {"event": "certificates"})
    post("/prereg/procedures", {"procedures": "juminhyo"})
    for name, data in CERT_ANSWERS.items():
        post(f"/prereg/q/{name}", data)
    assert "秘密" in page and "/prereg/check" in s.get(server.url + "/prereg/check").url
    page = s.get(server.url + "/prereg/check").text
    post("/prereg/check", {})
    assert "有効期限" in page
    api = s.post(server.url + "/prereg/api/v1/applications", timeout=10, json={
        "procedures": ["juminhyo"], "name": NAME, "kana": KANA, "birth_date": "1988-12-01", "sex": "female",
        "postal_code": "1000001", "address": "東京都千代田区千代田" + STREET, "juminhyo_scope": "self",
        "juminhyo_copies": 1})
    assert api.status_code == 201
    bad = s.post(server.url + "/prereg/api/v1/applications", timeout=10,
                 json={"procedures": ["juminhyo"], "name": NAME, "kana": "not kana " + NAME})
    assert bad.status_code == 422
    secrets = [NAME, "秘密", KANA, "ヒミツ", STREET, "秘密荘", "1988-12-01", "19881201"]
    if config.storage.engine == "sqlite":   # every byte of its files, freed pages too
        files = sorted(config.path(config.storage.path).parent.glob("madoguchi.db*"))
        assert files and any(f.name.endswith("-wal") for f in files)
        stored = {f.name: f.read_bytes() for f in files}
    else:                                   # the server's files are its own: every value stored
        stored = {"database": everything_stored(db).encode("utf-8")}
    for name, data in stored.items():
        for secret in secrets:
            assert secret.encode("utf-8") not in data, (name, secret)
    log = server.output()
    assert "serving prereg" in log
    for secret in secrets:
        assert secret not in log
    assert api.json()["token"] not in log


def test_serve_stops_promptly_on_sigterm_with_its_purge_timer(live_server):
    """SIGTERM (systemd's stop) ends `madoguchi serve` at once, even with keep-alive clients."""
    import time
    server = live_server("prereg")
    session = requests.Session()
    for _ in range(3):
        assert session.get(server.url + "/prereg/", timeout=5).ok
    started = time.monotonic()
    server.proc.terminate()
    server.proc.wait(8)
    assert time.monotonic() - started < 5 and server.proc.returncode == 0


def test_error_reports_name_the_place_but_not_the_data(walker, monkeypatch, caplog):
    """An unexpected error is logged with where it happened, never with its message or values."""
    import logging

    from prereg import views

    def broken(*a, **kw):
        raise ValueError(f"could not store {NAME} at {STREET}")
    start(walker)
    monkeypatch.setattr(views.drafts, "save", broken)
    with caplog.at_level(logging.ERROR, logger="madoguchi.prereg"):
        r = walker.post({"name": NAME}, expect=500)
    assert "サービスに問題が発生しています" in walker.page and NAME not in walker.page
    assert "builtins.ValueError at" in caplog.text and "views.py" in caplog.text
    assert NAME not in caplog.text and "秘密" not in caplog.text and STREET not in caplog.text
    assert r.status_code == 500
