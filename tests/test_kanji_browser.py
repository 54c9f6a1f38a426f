"""Kanji candidates in headless Chromium: a visitor types a family member's name in kana on the
kiosk's keyboard, touches 髙橋, and the member is saved with it and its reading as フリガナ."""
from __future__ import annotations

import time

import pytest

from kiosk import kanji
from tests.test_kiosk_browser import (  # noqa: F401  (kiosk_page is a fixture)
    Screens,
    answer_guide,
    kiosk_page,
    read_demo_card,
    serve_kiosk,
    tap_keys,
    wait_url,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (kanji.SKK_FOLDER / "SKK-JISYO.jinmei").is_file(),
                                 reason="Debian's skkdic-extra is not installed")]

CANDIDATE = ".k-keyboard:not([hidden]) .k-kanji-candidate"


def test_a_member_name_typed_in_kana_becomes_the_kanji_touched(overrides, kiosk_page):  # noqa: F811
    server, _ = serve_kiosk(overrides, kiosk_page.context, devices={"emulator_persona": ""})
    try:
        page = kiosk_page
        page.goto(server.url + "/kiosk/?lang=ja")
        page.click("a.k-choice-card")
        wait_url(page, r"/kiosk/card$")
        read_demo_card(page)
        page.click("button[value=moving_in]")
        answer_guide(page)
        page.goto(server.url + "/kiosk/ask/household/member")

        page.click("#f-name")
        bar = page.locator(".k-keyboard:not([hidden]) [data-kanji-bar]")
        assert bar.is_visible() and bar.bounding_box()["height"] >= 56
        tap_keys(page, "タカハシ")
        started = time.monotonic()
        page.wait_for_selector(f"{CANDIDATE}:text-is('髙橋')", timeout=5000)
        shown_after = time.monotonic() - started
        button = page.locator(f"{CANDIDATE}:text-is('髙橋')")
        box = button.bounding_box()
        assert box["height"] >= 56 and box["width"] >= 56
        assert page.input_value("#f-kana") == "タカハシ"          # the reading, as the kana typed so far
        Screens(page, "kanji").shot("member-candidates")        # text and touch targets big enough
        button.click()
        assert page.input_value("#f-name") == "髙橋"
        assert page.input_value("#f-kana") == "タカハシ"
        assert page.evaluate("document.activeElement.id") == "f-name"   # typing goes on there

        page.click("#f-name-given")
        tap_keys(page, "イチロウ")
        page.click(f"{CANDIDATE}:text-is('一郎')")
        assert page.input_value("#f-name-given") == "一郎"
        assert page.input_value("#f-kana-given") == "イチロウ"
        page.click("#f-kana")                                  # the kana inputs get no candidates
        assert not bar.is_visible()

        page.fill("#f-birth_date", "2015")
        page.fill("#f-birth_date-month", "4")
        page.fill("#f-birth_date-day", "1")
        page.click("#f-sex label.k-radio >> nth=0")
        page.click("#f-relationship label.k-radio >> nth=0")
        with page.expect_navigation():
            page.click("button.k-primary")
        wait_url(page, r"/kiosk/ask/household$")
        text = page.inner_text("main")
        assert "髙橋　一郎" in text and "タカハシ　イチロウ" in text
        # Generous: the bench (bench/kanji.py) holds the 50 ms target; this catches a hang.
        assert shown_after < 2.0, f"candidates took {shown_after:.2f} s"

        # The visitor's own name, changed on the name question: its reading starts the kana question.
        page.goto(server.url + "/kiosk/ask/name")
        page.fill("#f-name", "")
        page.click("#f-name")
        tap_keys(page, "タカハシ")
        page.click(f"{CANDIDATE}:text-is('髙橋')")
        page.fill("#f-name-given", "")
        page.click("#f-name-given")
        tap_keys(page, "ハナコ")
        page.click(f"{CANDIDATE}:text-is('花子')")
        readings = (page.input_value("#f-name-reading"), page.input_value("#f-name-given-reading"))
        assert readings == ("タカハシ", "ハナコ")
        with page.expect_navigation():
            page.click("button[value=save]")
        page.goto(server.url + "/kiosk/ask/kana")
        assert (page.input_value("#f-kana"), page.input_value("#f-kana-given")) == ("タカハシ", "ハナコ")
    finally:
        server.stop()
