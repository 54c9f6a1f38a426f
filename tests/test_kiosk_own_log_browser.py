"""The kiosk's "who used my information" in headless Chromium: a visitor who printed a form
earlier reads their card again, sees that print among their entries, turns the pages and prints."""
from __future__ import annotations

import time

import pdfplumber
import pytest

from tests import test_kiosk_browser
from tests.helpers import OUTPUT
from tests.kiosk_helpers import pair_context
from tests.test_kiosk_browser import Screens, read_demo_card, serve_kiosk, wait_url
from tests.test_kiosk_office import HttpKiosk

kiosk_page = test_kiosk_browser.kiosk_page      # the fixture: the kiosk's page, failing on script errors

pytestmark = pytest.mark.browser


def test_a_visitor_sees_and_prints_who_used_their_information(tmp_path, overrides, kiosk_page):
    server, config = serve_kiosk(overrides, devices={"emulator_persona": ""})
    try:
        # An earlier visit of the same person: a 住民票 printed from the card, then the card taken away.
        earlier = HttpKiosk(server.url, config)
        assert earlier.visit_to_print() == "A-001"
        earlier.post("/kiosk/end", {"take_card": "yes"})
        printed = tmp_path / "var" / "printed"
        forms = set(printed.glob("*.pdf"))
        page, screens = kiosk_page, Screens(kiosk_page, "own-log")
        pair_context(page.context, server.url, config)
        page.goto(server.url + "/kiosk/")
        page.click("a.k-choice-card")
        read_demo_card(page)
        page.click("a.k-own-log")
        wait_url(page, r"/kiosk/my-log$")
        entries = page.locator("[data-own-log-entry]")
        assert entries.count() == 2
        first = entries.nth(0).inner_text()
        assert "本人への表示" in first and "ご本人がこの記録の表示を求めたため" in first   # this showing itself
        assert "カード読取" in entries.nth(1).inner_text()                            # this visit's card read
        assert "2ページ中1ページ目" in page.inner_text(".k-pager")
        screens.shot("page-1")
        page.click("a[rel=next]")
        wait_url(page, r"/kiosk/my-log\?page=2$")
        shown = page.inner_text(".k-log-entries")                                     # the earlier visit's
        assert "印刷" in shown and "住民票の写し" in shown and "住民基本台帳に関する事務" in shown
        assert "カード読取" in shown and "氏名" in shown
        assert "1980" not in shown and "霞が関" not in shown                         # names of data, never values
        screens.shot("page-2")
        page.click("button.k-primary.k-big")                                          # 印刷する
        page.wait_for_selector("[data-own-log-printed]")
        screens.shot("printed")
        deadline = time.monotonic() + 10
        while not set(printed.glob("*.pdf")) - forms and time.monotonic() < deadline:
            time.sleep(0.1)
        [log_pdf] = set(printed.glob("*.pdf")) - forms
        with pdfplumber.open(log_pdf) as doc:
            text = "".join(p.extract_text() or "" for p in doc.pages)
            doc.pages[0].to_image(resolution=80).save(OUTPUT / "kiosk-own-log-browser.png")
        assert "個人情報のやりとり履歴" in text and "山田" in text and "住民票の写し" in text
        page.click("a.k-button.k-secondary >> text=戻る")
        wait_url(page, r"/kiosk/purpose$")
    finally:
        server.stop()
