"""The kiosk's devices belong to the kiosk's own browser (kiosk.pairing); the emulator's routes
exist only beside the emulated reader; event streams never take the threads that serve pages."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import requests

from core.application import iso, utcnow
from core.config import load_config
from core.store.db import open_from_config
from kiosk import pairing
from tests.helpers import madoguchi
from tests.kiosk_helpers import Kiosk, device_secret, pairing_code

PAIRING_ENDPOINTS = ("kiosk.pair", "kiosk.pair_post")   # the only kiosk pages any browser may open
NOT_A_KIOSK = {"en": "This is not a kiosk", "ja": "この画面はキオスク端末ではありません"}


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', text).group(1)


# --- a second browser on the network -----------------------------------------------------------

def test_another_browser_burns_no_pin_try_and_reads_nothing(kiosk):
    kiosk.start()
    kiosk.insert("mynumber_yamada")
    kiosk.get("/kiosk/card")
    assert kiosk.get("/kiosk/card/pin").status_code == 200
    tries = kiosk.card_tries()
    visits, station = len(kiosk.hub.visits), kiosk.hub.station

    other = Kiosk(kiosk.app, paired=False)
    r = other.get("/kiosk/?lang=ja")
    assert r.status_code == 403 and NOT_A_KIOSK["ja"] in other.text
    assert "k-demo" not in other.text and "data-stream-url" not in other.text
    for pin in ("0000", "1111"):
        r = other.post("/kiosk/card/pin", {"pin": pin})
        assert r.status_code == 403 and NOT_A_KIOSK["ja"] in other.text
    assert kiosk.card_tries() == tries                          # not one try used
    assert (len(kiosk.hub.visits), kiosk.hub.station) == (visits, station)   # no visit, the devices stay put

    # The visitor types the right PIN; the other browser still sees nothing of the card.
    kiosk.post("/kiosk/card/pin", {"pin": "1234"})
    assert kiosk.last.headers["Location"] == "/kiosk/purpose"
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    assert "山田" in kiosk.text
    for path in ("/kiosk/confirm", "/kiosk/purpose", "/kiosk/events?since=0", "/kiosk/events/stream"):
        r = other.get(path)
        assert r.status_code == 403 and "山田" not in other.text, path
    assert kiosk.get("/kiosk/confirm").status_code == 200       # the visitor goes on


def test_every_kiosk_route_refuses_another_browser(kiosk_app):
    app = kiosk_app(devices={"emulator_persona": ""})
    kiosk = Kiosk(app)
    kiosk.start()
    kiosk.insert("mynumber_yamada")
    tries = kiosk.card_tries()
    other = Kiosk(app, paired=False)
    other.get("/kiosk/pair")                                    # a page it may see: a CSRF token to send
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/kiosk/") or rule.endpoint in PAIRING_ENDPOINTS:
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: "0" if "int:" in m.group(0) else "kana", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint == "kiosk.static":
                assert other.client.get("/kiosk/static/kiosk.css").status_code == 200   # files stay public
                continue
            r = other.get(path) if method == "GET" else other.post(path, {"pin": "0000", "persona": "mynumber_sato",
                                                                            "action": "remove", "code": "x"})
            assert r.status_code == 403, (method, path, r.status_code)
            checked.append(f"{method} {path}")
    assert "POST /kiosk/card/pin" in checked and "POST /kiosk/emulator/card" in checked and len(checked) > 15
    assert len(kiosk.hub.visits) == 1 and kiosk.reader().card_present and kiosk.card_tries() == tries


def test_the_not_a_kiosk_page_is_in_the_browsers_language(kiosk):
    other = Kiosk(kiosk.app, paired=False)
    assert other.get("/kiosk/card?lang=en").status_code == 403 and NOT_A_KIOSK["en"] in other.text
    r = kiosk.app.test_client().get("/kiosk/", headers={"Accept-Language": "ko"})
    assert r.status_code == 403 and "이 화면은 키오스크가 아닙니다" in r.get_data(as_text=True)


# --- pairing ------------------------------------------------------------------------------------

def test_a_pairing_code_works_once_and_a_new_pairing_replaces_the_old_browser(kiosk):
    old = kiosk
    old.start()
    old.read_card()
    visit_id = old.visit().id
    code = pairing_code(old.config)
    new = Kiosk(old.app, paired=False)
    page = new.get(f"/kiosk/pair?code={code}&lang=en")
    assert page.status_code == 200 and "kiosk-1" in new.text and "data-pair" in new.text
    r = new.pair(code)
    assert r.status_code == 302 and r.headers["Location"] == "/kiosk/"
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith(pairing.COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/kiosk/" in cookie
    assert re.search(r"Max-Age=\d{8,}", cookie)                  # long-lived
    assert new.start().status_code == 200
    # The browser paired before is no longer the kiosk, and its visit (with the card's data) is gone.
    assert old.get("/kiosk/purpose").status_code == 403
    assert old.hub.visits.get(visit_id) is None and [v for v in old.hub.visits.all() if v.card] == []
    # The code was single use.
    third = Kiosk(old.app, paired=False)
    assert third.get(f"/kiosk/pair?code={code}").status_code == 400
    assert third.post("/kiosk/pair", {"code": code}).status_code == 400
    assert third.get("/kiosk/").status_code == 403


def test_pairing_codes_expire_and_belong_to_one_kiosk(kiosk_app, tmp_path):
    app = kiosk_app(devices={"emulator_persona": ""})
    config = app.config["MADOGUCHI"]
    db = open_from_config(config)
    expired = pairing.new_code(db, config.kiosk.kiosk_id)
    db.execute("UPDATE kiosk_pairing_codes SET expires_at = ?", [iso(utcnow() - timedelta(seconds=1))])
    other_kiosk = pairing.new_code(db, "kiosk-9")
    browser = Kiosk(app, paired=False)
    for code in (expired, other_kiosk, "", "made-up"):
        assert browser.get(f"/kiosk/pair?code={code}&lang=en").status_code == 400
        assert "This pairing code is unknown, used or expired." in browser.text
        assert browser.post("/kiosk/pair", {"code": code}).status_code == 400
    assert browser.get("/kiosk/").status_code == 403


def test_only_hashes_are_stored(kiosk):
    secret = device_secret(kiosk.config)
    db = open_from_config(kiosk.config)
    stored = [tuple(r) for r in db.execute("SELECT * FROM kiosk_devices")]
    stored += [tuple(r) for r in db.execute("SELECT * FROM kiosk_pairing_codes")]
    assert stored and not any(secret in str(v) for row in stored for v in row)
    assert pairing.is_paired(db, kiosk.config.kiosk.kiosk_id, secret)
    assert not pairing.is_paired(db, kiosk.config.kiosk.kiosk_id, secret[:-1] + "x")
    assert not pairing.is_paired(db, kiosk.config.kiosk.kiosk_id, "") and not pairing.is_paired(db, "kiosk-9", secret)


def test_pair_command_prints_a_url_that_pairs(config_file, tmp_path):
    r = madoguchi("kiosk", "pair", config_file=config_file)
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/kiosk/pair\?code=[\w-]{20,}", url), url
    assert "within 10 minutes" in r.stderr
    r = madoguchi("kiosk", "pair", "--url", "https://kiosk-1.city.example", config_file=config_file)
    assert r.stdout.startswith("https://kiosk-1.city.example/kiosk/pair?code=")
    wrong = madoguchi("kiosk", "pair", "kiosk-2", config_file=config_file)
    assert wrong.returncode != 0 and "kiosk-1" in wrong.stderr
    from web import create_app
    app = create_app(load_config(config_file, base_dir=tmp_path), "kiosk")
    browser = Kiosk(app, paired=False)
    assert browser.pair(url.split("code=", 1)[1]).status_code == 302
    assert browser.start().status_code == 200


# --- the emulator's routes ----------------------------------------------------------------------

def test_emulator_routes_exist_only_beside_the_emulated_reader(kiosk_app):
    emulated = kiosk_app(devices={"emulator_persona": ""})
    real = kiosk_app(devices={"card_reader": "pcsc", "emulator_persona": ""})
    rules = lambda app: {r.rule for r in app.url_map.iter_rules()}  # noqa: E731
    assert "/kiosk/emulator/card" in rules(emulated)
    assert not [r for r in rules(real) if r.startswith("/kiosk/emulator")]
    kiosk = Kiosk(real)
    assert "k-demo" not in kiosk.start().get_data(as_text=True)
    assert kiosk.post("/kiosk/emulator/card", {"persona": "mynumber_yamada"}).status_code == 404
    demo = Kiosk(emulated)
    assert "k-demo" in demo.start().get_data(as_text=True)
    assert demo.post("/kiosk/emulator/card", {"persona": "mynumber_yamada", "next": "/kiosk/card"}).status_code == 302
    assert demo.reader().card_present


# --- event streams and long polls -------------------------------------------------------------

def test_streams_beyond_their_slots_answer_at_once(kiosk_app):
    app = kiosk_app(devices={"emulator_persona": ""}, server={"stream_threads": 1})
    first, second = Kiosk(app), Kiosk(app, paired=False)     # two tabs of the kiosk's browser
    second.client.set_cookie(pairing.COOKIE, first.client.get_cookie(pairing.COOKIE, path="/kiosk/").value,
                             path="/kiosk/")
    first.start()
    second.start()
    held = first.client.get("/kiosk/events/stream", buffered=False)
    assert next(held.response).startswith(b"retry: 1000")     # holds the only slot
    started = time.monotonic()
    r = second.client.get("/kiosk/events/stream")
    assert r.get_data(as_text=True) == "retry: 3000\n\n" and r.mimetype == "text/event-stream"
    body = second.client.get("/kiosk/events?since=0&wait=5").get_json()
    assert body["retry"] == 3000 and body["events"] == []
    assert time.monotonic() - started < 1.0
    held.close()                                              # the stream ends: its slot is free again
    r = second.client.get("/kiosk/events?since=0&wait=0.2")
    assert r.status_code == 200 and "retry" not in r.get_json()


def test_fifty_open_streams_leave_the_pages_their_threads(config_file, live_server, tmp_path):
    """Streams of the kiosk's own browser (the worst case: only it may open them), one visit each."""
    server = live_server("all")
    secret = device_secret(load_config(config_file, base_dir=tmp_path))
    streams, sessions = [], []
    try:
        for _ in range(50):
            s = requests.Session()
            s.cookies.set(pairing.COOKIE, secret, path="/kiosk/")
            assert s.get(server.url + "/kiosk/", timeout=5).status_code == 200
            r = s.get(server.url + "/kiosk/events/stream", stream=True, timeout=10)
            assert r.status_code == 200
            sessions.append(s)
            streams.append(r)
        time.sleep(0.5)
        for path in ("/prereg/", "/counter/sign-in", "/healthz", "/kiosk/static/kiosk.css"):
            started = time.monotonic()
            r = requests.get(server.url + path, timeout=5)
            took = time.monotonic() - started
            assert r.status_code == 200 and took < 1.0, f"{path}: {r.status_code} after {took:.2f} s"
        # The kiosk's own pages are served too, while the streams stay open.
        started = time.monotonic()
        assert sessions[-1].get(server.url + "/kiosk/card", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0
        busy = sum(1 for r in streams if r.raw.read(13) == b"retry: 3000\n\n")
        assert busy >= 50 - 4                    # beyond [server].stream_threads: told to come back later
    finally:
        for r in streams:
            r.close()


def test_serve_says_how_to_pair(kiosk_app):
    from kiosk.blueprint import pairing_note
    real = kiosk_app(devices={"card_reader": "pcsc", "emulator_persona": ""})
    assert "no browser is paired as kiosk kiosk-1 yet" in pairing_note(real, "http://127.0.0.1:8002")
    stranger = Kiosk(real, paired=False).get("/kiosk/?lang=en").get_data(as_text=True)
    assert "madoguchi kiosk pair" in stranger and "Trying the demo?" not in stranger
    Kiosk(real)
    assert pairing_note(real, "http://127.0.0.1:8002") is None
    # The embedded demo prints a pairing URL at every start (both apps share one database here).
    demo = kiosk_app(devices={"emulator_persona": ""})
    note = pairing_note(demo, "http://127.0.0.1:8000")
    url = re.search(r"open (http://127\.0\.0\.1:8000/kiosk/pair\?code=\S+) in it", note).group(1)
    stranger = Kiosk(demo, paired=False)
    page = stranger.get("/kiosk/?lang=en").get_data(as_text=True)
    assert "“madoguchi serve” (make run) printed a pairing address" in page
    assert stranger.pair(url.split("code=", 1)[1]).status_code == 302
    assert stranger.start().status_code == 200


@pytest.mark.parametrize("wait", ["nan", "inf", "-5", "x", "1e400"])
def test_a_long_poll_with_a_strange_wait_answers_at_once(kiosk, wait):
    kiosk.start()
    started = time.monotonic()
    r = kiosk.get(f"/kiosk/events?since=0&wait={wait}")
    assert r.status_code == 200 and time.monotonic() - started < 1.0
