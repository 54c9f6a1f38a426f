"""`madoguchi serve --surface kiosk` on each storage engine: the kiosk's browser is paired by the URL
`madoguchi kiosk pair` prints, a visitor reads the demo My Number card, confirms and prints to the
pdf-folder printer, and the application, its reception number and its exchange log are in the database."""
from __future__ import annotations

import re

import pytest
import requests

from core import exchange_log as xlog
from core.application import State
from core.store.applications import ApplicationStore
from kiosk import pairing
from tests.helpers import LiveServer, madoguchi
from tests.kiosk_helpers import HttpKiosk

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)


def paired_browser(server: LiveServer, config_file) -> requests.Session:
    """A browser made the kiosk's own as staff do it: open the printed URL, touch the button."""
    out = madoguchi("kiosk", "pair", "--url", server.url, config_file=config_file)
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200, page.text
    code = re.search(r'name="code" value="([^"]+)"', page.text).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = browser.post(server.url + "/kiosk/pair", data={"csrf_token": csrf, "code": code}, timeout=10,
                     allow_redirects=False)
    assert r.status_code in (302, 303), r.text
    assert browser.cookies.get(pairing.COOKIE)
    return browser


def test_the_kiosk_serves_a_card_visit_to_print(config, config_file, db, engine):
    server = LiveServer(config_file, "kiosk")
    try:
        assert requests.get(server.url + "/healthz", timeout=10).json()["checks"]["database"]["ok"]
        stranger = requests.get(server.url + "/kiosk/?lang=en", timeout=10)
        assert stranger.status_code == 403        # not the kiosk's own browser
        number = HttpKiosk(server.url, session=paired_browser(server, config_file)).visit_to_print()
        assert re.fullmatch(r"[A-Z]-\d{3}", number)
        assert "Traceback" not in server.output()
    finally:
        server.stop()
    [app] = ApplicationStore(db).list()
    assert app.state is State.PRINTED and app.reception_number == number and app.channel == "kiosk"
    assert app.procedures == ["juminhyo"] and app.data["name"].startswith("山田")
    purposes = [e["purpose"] for e in xlog.entries(db)]
    assert purposes == ["card_read", "print"]
    assert xlog.verify(db).ok
    printed = list(config.path(config.devices.pdf_folder).glob("*.pdf"))
    assert len(printed) == 1 and printed[0].read_bytes().startswith(b"%PDF")
