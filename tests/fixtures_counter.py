"""Fixtures for the counter tests: clerk accounts, applications as a kiosk leaves them, signed-in clients."""
from __future__ import annotations

import re
import threading
import time
from html import unescape

import pytest

from core import exchange_log as xlog
from core import users
from core.application import Application, Source, State
from core.catalogue import get_catalogue
from core.demo import add_demo_data
from core.forms import parse_application
from core.services import casework
from core.store.applications import ApplicationStore
from core.store.db import write
from counter.demo import add_demo_data as counter_demo
from tests.helpers import ROOT

PASSWORD = "correct horse battery"
CLERKS = {"sato": "clerk", "suzuki": "supervisor", "tanaka": "admin"}
CHECKED_ID = {"id_document_1": "driving_licence"}   # the 本人確認 part of a confirm form

MOVE_IN = {
    "procedures": ["juminido"], "name": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ", "birth_date": "1985-04-01",
    "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－１", "phone": "03-1234-5678",
    "move_type": "tennyu", "move_date": "2026-11-01", "previous_postal_code": "0600000",
    "previous_address": "北海道札幌市中央区北１条西２丁目", "relationship_to_head": "head",
    "nationality_kind": "japanese", "honseki": "北海道札幌市中央区北１条西２丁目１番地", "hittousha": "山田\u3000太郎",
    "notifier_type": "self",
    "household": [{"name": "山田\u3000花子", "kana": "ヤマダ\u3000ハナコ", "birth_date": "1987-09-12", "sex": "female",
                   "relationship": "spouse"}],
}
CERTIFICATE = {
    "procedures": ["juminhyo"], "name": "髙橋\u3000𠮷子", "kana": "タカハシ\u3000ヨシコ", "birth_date": "1952-01-15",
    "sex": "female", "postal_code": "1000001", "address": "東京都千代田区千代田２－３", "phone": "090-1111-2222",
    "juminhyo_scope": "self", "juminhyo_copies": 2, "juminhyo_purpose": "pension",
}


def kiosk_application(db, form: dict = MOVE_IN, reception: str | None = "12", state: State = State.PRINTED,
                      licence: dict | None = None, office: str | None = None) -> Application:
    """An application as the kiosk leaves it: filled from a card (name, birth date, sex) and typed,
    its card read and print in the exchange log, a reception number when printed (`office`: the
    kiosk's, an office id of the site; None: not recorded)."""
    procedures, values = parse_application(form, get_catalogue())
    card_fields = {"name", "birth_date", "sex"} | ({"address"} if licence else set())
    sources = {k: (str(Source.LICENCE) if licence else str(Source.CARD)) if k in card_fields else str(Source.TYPED)
               for k in values}
    app = Application.create(procedures, values, Source.TYPED, actor="kiosk:kiosk-1", channel="kiosk", sources=sources,
                             office=office)
    if licence:
        app.note("kiosk:kiosk-1", "card_read", new={"card": "licence", **licence})
    with write(db):
        xlog.append(db, None, actor="kiosk:kiosk-1", counterparty="driving_licence" if licence else "mynumber_card",
                    purpose="card_read", application_id=app.id, payload=values)
        if state in (State.SUBMITTED, State.PRINTED):
            app.transition(State.SUBMITTED, actor="kiosk:kiosk-1")
        if state is State.PRINTED:
            app.transition(State.PRINTED, actor="kiosk:kiosk-1")
            app.note("kiosk:kiosk-1", "printed", new={"queue": "pdf-folder", "job_id": "1"})  # as kiosk.hub does
            app.reception_number = reception
            xlog.append(db, None, actor="kiosk:kiosk-1", counterparty="printer:pdf-folder", purpose="print",
                        application_id=app.id, payload=b"%PDF")
        ApplicationStore(db).save(app)
    return app


class KioskWriting:
    """A kiosk writing applications on its own connection (`open_db()`) from a thread while a
    backup is taken (`backup(runner)`): `pause_at(monkeypatch, module, name)` makes the backup's
    step `name`, which runs once its copy is fixed, wait for two more written first; and
    `check_copy(ids)` asserts that a copy is one moment: the first ones in it, the last ones and
    those written after the copy not."""

    def __init__(self, open_db):
        self.open_db = open_db
        self.written: list[tuple[float, str]] = []
        self.errors: list[Exception] = []
        self.during: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write)

    def _write(self) -> None:
        db = self.open_db()
        try:
            while not self._stop.is_set():
                self.written.append((time.monotonic(), kiosk_application(db, CERTIFICATE, reception=None).id))
        except Exception as e:      # noqa: BLE001 — reported by check_copy
            self.errors.append(e)
        finally:
            db.conn.close()

    def _wait(self, done) -> None:
        deadline = time.monotonic() + 30
        while not done() and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)

    def __enter__(self) -> KioskWriting:
        self._thread.start()
        self._wait(lambda: len(self.written) >= 3)
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def pause_at(self, monkeypatch, module, name: str) -> None:
        real = getattr(module, name)

        def after_two_more(*args, **kw):
            at = len(self.written)
            self._wait(lambda: len(self.written) >= at + 2)
            self.during.extend(app_id for _, app_id in self.written[at:])
            return real(*args, **kw)
        monkeypatch.setattr(module, name, after_two_more)

    def backup(self, runner):
        """`madoguchi backup` while writing (before, during and after it)."""
        with self:
            result = runner.invoke("backup")
            finished = time.monotonic()
            self._wait(lambda: any(at > finished for at, _ in self.written))
        return result

    def check_copy(self, ids: set[str]) -> None:
        assert not self.errors
        assert self.written[0][0] < self.started and len(self.during) >= 2   # before, during and after
        in_copy = [app_id in ids for _, app_id in self.written]
        assert in_copy[0] and not in_copy[-1] and in_copy == sorted(in_copy, reverse=True)
        assert not set(self.during) & ids


@pytest.fixture
def fast_password_hashing(monkeypatch):
    """Argon2id with small costs, so tests that add accounts stay quick. Hashes keep their
    parameters, so a server using the real costs still verifies them (and rehashes on sign-in)."""
    from argon2 import PasswordHasher
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def clerks(db, fast_password_hashing):
    return {name: users.add_user(db, name, PASSWORD, role, display_name=name.title())
            for name, role in CLERKS.items()}


CHECKED_LICENCE = casework.IdentityCheck((casework.IdDocument("driving_licence"),))


@pytest.fixture
def live_office(config, db, clerks):
    """An office in use: the demo data, a clerk's accounts, applications printed at the kiosk,
    one corrected and confirmed, one rejected, each with its exchange-log entries."""
    add_demo_data(config, db, surface_demos=[counter_demo])
    confirmed = kiosk_application(db, MOVE_IN)
    casework.correct(db, config, casework.load(db, confirmed.id), actor="clerk:sato", field="phone",
                     value="03-9999-0000", reason="typo", expected_version=None)
    casework.confirm(db, config, casework.load(db, confirmed.id), actor="clerk:sato", identity=CHECKED_LICENCE,
                     corrections_checked=True, expected_version=None)
    rejected = kiosk_application(db, CERTIFICATE, reception="13")
    casework.reject(db, config, casework.load(db, rejected.id), actor="clerk:sato", reason="wrong office",
                    expected_version=None)
    return {"confirmed": confirmed.id, "rejected": rejected.id}


def csrf_token(client) -> str:
    with client.session_transaction() as session:
        return session.setdefault("_csrf", "test-csrf-token")


def post(client, url: str, data: dict | None = None, **kw):
    """POST a form as the browser would, with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf_token(client), **(data or {})}, **kw)


def sign_in(client, username: str = "sato", password: str = PASSWORD):
    r = post(client, "/counter/sign-in", {"username": username, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


@pytest.fixture
def clerk_client(app, clerks):
    """A test client signed in as the clerk `sato`."""
    return sign_in(app.test_client())


def text_of(response) -> str:
    """The visible text of a page, tags removed, whitespace collapsed (for asserting on words)."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    # Only ASCII white space: U+3000 between family and given name is part of the value.
    return re.sub(r"[ \t\r\n]+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def accessibility_violations(page) -> list[dict]:
    """WCAG 2 A/AA violations axe-core finds on the page (the context must bypass the CSP
    so the test can inject axe; the pages themselves never run inline script)."""
    if not AXE.exists():
        raise RuntimeError("axe-core is missing: run `npm install` (make install-test does)")
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
