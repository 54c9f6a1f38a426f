"""Driving the kiosk through Flask's test client, as its page would (without JavaScript)."""
from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from core.store.db import open_from_config
from kiosk import pairing
from tests.helpers import MOVE_IN_EXTRAS, ROOT

PERSONAS = ROOT / "hardware" / "cards" / "personas"

# Answers a visitor types for each question the kiosk may ask (what the card cannot give).
TYPED = {
    "kana": {"value": "やまだ　たろう"},
    "postal_code": {"value": "1000013"},
    "address": {"value": "東京都千代田区霞が関２丁目１－２"},
    "phone": {"value": "090-5555-0101"},
    "sex": {"value": "male"},              # a licence has no sex field: the visitor is asked
    "move_date": {"era": "western", "year": "2026", "month": "11", "day": "1"},
    "previous_postal_code": {"value": "0600000"},
    "previous_address": {"value": "北海道札幌市中央区北１条西２丁目"},
    "juminhyo_scope": {"value": "self"},
    "juminhyo_copies": {"value": "2"},
    "juminhyo_purpose": {"value": "pension"},
    **{name: {"value": value} for name, value in MOVE_IN_EXTRAS.items()},
}


def persona(name: str) -> Path:
    return PERSONAS / f"{name}.toml"


def pairing_code(config) -> str:
    """A one-time pairing code for the config's kiosk, as `madoguchi kiosk pair` makes."""
    db = open_from_config(config)
    try:
        return pairing.new_code(db, config.kiosk.kiosk_id)
    finally:
        db.conn.close()


def device_secret(config) -> str:
    """Pair a browser as the config's kiosk (what /kiosk/pair does): its device cookie's value."""
    db = open_from_config(config)
    try:
        return pairing.pair(db, config.kiosk.kiosk_id, pairing.new_code(db, config.kiosk.kiosk_id))
    finally:
        db.conn.close()


def pair_session(session, config):
    """Make a requests.Session the kiosk's own browser (a live server on `config`)."""
    session.cookies.set(pairing.COOKIE, device_secret(config), path="/kiosk/")
    return session


def pair_context(context, base_url: str, config):
    """Make a Playwright browser context the kiosk's own browser."""
    context.add_cookies([{"name": pairing.COOKIE, "value": device_secret(config), "url": base_url + "/kiosk/",
                          "httpOnly": True, "sameSite": "Strict"}])
    return context


class Kiosk:
    """One visitor at the kiosk: a test client with the kiosk's session and CSRF token."""

    def __init__(self, app, paired: bool = True):
        self.app = app
        self.client = app.test_client()
        self.hub = app.extensions["kiosk.hub"]
        self.config = app.config["MADOGUCHI"]
        self.csrf = ""
        self.last = None
        if paired:
            self.pair()

    def pair(self, code: str | None = None):
        """Become the kiosk's own browser the way its staff do: open the pairing URL, touch the button."""
        code = code or pairing_code(self.config)
        self.get(f"/kiosk/pair?code={code}")
        return self.post("/kiosk/pair", {"code": code})

    # --- requests ---------------------------------------------------------------------
    def get(self, path: str, follow: bool = False):
        r = self.client.get(path, follow_redirects=follow)
        self._remember(r)
        return r

    def post(self, path: str, data: dict | None = None, follow: bool = False):
        r = self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=follow)
        self._remember(r)
        return r

    def _remember(self, r):
        self.last = r
        if r.mimetype == "text/html":
            m = re.search(r'name="csrf-token" content="([^"]+)"', r.get_data(as_text=True))
            if m:
                self.csrf = m.group(1)

    @property
    def text(self) -> str:
        return self.last.get_data(as_text=True)

    def start(self, lang: str = "en"):
        return self.get(f"/kiosk/?lang={lang}")

    # --- devices ------------------------------------------------------------------------
    def reader(self):
        return self.hub.devices.reader()

    def insert(self, name: str):
        self.reader().insert(persona(name))

    def remove(self):
        self.reader().remove()

    def card_tries(self) -> int:
        return self.reader().tries_left().tries

    # --- the visit --------------------------------------------------------------------------
    def visit(self):
        with self.client.session_transaction() as s:
            return self.hub.visits.get(s.get("kiosk_visit"))

    def read_card(self, name: str = "mynumber_yamada", pin: str = "1234"):
        self.insert(name)
        self.get("/kiosk/card")
        self.get("/kiosk/card/pin")
        return self.post("/kiosk/card/pin", {"pin": pin})

    def choose(self, event: str, procedures: list[str]):
        self.post("/kiosk/purpose", {"event": event})
        return self.post("/kiosk/procedures", {"procedure": procedures})

    def answer_all(self, answers: dict | None = None, limit: int = 40) -> list[str]:
        """Answer every question the kiosk asks until the confirm page; returns the fields asked."""
        answers = {**TYPED, **(answers or {})}
        asked = []
        location = "/kiosk/next"
        for _ in range(limit):
            r = self.get(location)
            if r.status_code == 302:
                location = r.location
                if location.startswith("/kiosk/confirm"):
                    self.get(location)
                    return asked
                continue
            name = location.rsplit("/", 1)[-1].split("?")[0]
            asked.append(name)
            if name == "household":
                r = self.post(location, {"action": "done"})
            else:
                r = self.post(location, answers.get(name, {"action": "skip"}))
            assert r.status_code == 302, f"{name}: {re.findall(r'k-error-message[^>]*>(.*?)</p>', self.text, re.S)}"
            location = r.location
        raise AssertionError(f"no confirm page after {asked}")

    def print_and_wait(self, timeout: float = 30.0):
        self.post("/kiosk/print")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.visit()
            if v is None or v.finished or v.print.state == "failed":
                break
            time.sleep(0.05)
        return self.get("/kiosk/printing", follow=True)


def csp_safe(html: str) -> list[str]:
    """Inline scripts, inline styles and event-handler attributes: what the CSP would block."""
    problems = []
    problems += [m for m in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)]
    problems += re.findall(r'\sstyle="', html)
    problems += re.findall(r"\son[a-z]+=\"", html)
    return problems


def printed_visit(kiosk: Kiosk) -> str:
    """A visit that prints a 住民票 from the card on the reader, ended. Its application id."""
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    app_id = kiosk.visit().application_id
    assert "Your forms are printed" in kiosk.print_and_wait().get_data(as_text=True)
    kiosk.post("/kiosk/end")
    return app_id


class HttpKiosk:
    """A visitor at a live kiosk (`madoguchi serve`) over HTTP, as the page does without JavaScript;
    `session`: a browser already paired, else one is paired with the kiosk of `config`."""

    def __init__(self, url: str, config=None, session: requests.Session | None = None):
        self.url, self.csrf = url, ""
        self.s = session if session is not None else pair_session(requests.Session(), config)

    def _keep(self, r):
        m = re.search(r'name="csrf-token" content="([^"]+)"', r.text)
        if m:
            self.csrf = m.group(1)
        return r

    def get(self, path):
        return self._keep(self.s.get(self.url + path, timeout=10, allow_redirects=False))

    def post(self, path, data=None):
        return self._keep(self.s.post(self.url + path, data={"csrf_token": self.csrf, **(data or {})}, timeout=10,
                                      allow_redirects=False))

    def visit_to_print(self) -> str:
        self.get("/kiosk/?lang=en")
        self.post("/kiosk/emulator/card", {"persona": "mynumber_yamada", "next": "/kiosk/card"})
        self.get("/kiosk/card/pin")
        assert self.post("/kiosk/card/pin", {"pin": "1234"}).headers["Location"] == "/kiosk/purpose"
        self.post("/kiosk/purpose", {"event": "certificates"})
        location = self.post("/kiosk/procedures", {"procedure": "juminhyo"}).headers["Location"]
        for _ in range(20):
            r = self.get(location)
            if r.status_code == 302:
                location = urlsplit(r.headers["Location"]).path
                if location == "/kiosk/confirm":
                    break
                continue
            name = location.rsplit("/", 1)[-1]
            location = self.post(location, TYPED.get(name, {"action": "skip"})).headers["Location"]
        self.post("/kiosk/print")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = self.get("/kiosk/printing")
            if r.status_code == 302 and r.headers["Location"].endswith("/kiosk/done"):
                page = self.get("/kiosk/done").text
                return re.search(r"data-reception-number>([^<]+)<", page).group(1)
            time.sleep(0.2)
        raise AssertionError("never printed")
