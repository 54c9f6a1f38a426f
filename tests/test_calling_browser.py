"""The waiting area's display in Chromium at 1920×1080: a clerk calls the next number from the
queue; the display shows it large within a few seconds, under the CSP, with no errors."""
import pytest
from playwright.sync_api import expect

from tests.fixtures_counter import CERTIFICATE, accessibility_violations, kiosk_application
from tests.test_counter_browser import sign_in

pytestmark = pytest.mark.browser


def test_a_call_from_the_queue_appears_on_the_display(browser, live_server, db, clerks, output_dir):
    kiosk_application(db, CERTIFICATE, reception="A-001")
    kiosk_application(db, CERTIFICATE, reception="A-002")
    server = live_server("counter")
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="ja-JP")
    office = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    try:
        display = tv.new_page()
        errors = []
        display.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        display.goto(server.url + "/counter/display")
        assert display.locator("[data-number]").inner_text() == "―"
        clerk = office.new_page()
        sign_in(clerk, server.url)
        clerk.select_option("#call-window", "honcho/1階 3番窓口")
        clerk.get_by_role("button", name="呼び出す").click()
        clerk.wait_for_load_state()
        expect(display.locator("[data-number]")).to_have_text("A-001", timeout=10000)
        assert "1階 3番窓口へお越しください" in display.locator("[data-window]").inner_text()
        clerk.get_by_role("button", name="呼び出す").click()              # the window is remembered
        expect(display.locator("[data-number]")).to_have_text("A-002", timeout=10000)
        assert display.locator("[data-recent] li").first.inner_text().startswith("A-001")
        size = display.evaluate("parseFloat(getComputedStyle(document.querySelector('[data-number]')).fontSize)")
        assert size >= 200                                                  # readable across the room
        display.screenshot(path=output_dir / "counter-display.png")
        assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors
    finally:
        tv.close()
        office.close()
    # axe-core needs its script injected: a context without the CSP, for that check only.
    checker = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="ja-JP", bypass_csp=True)
    try:
        page = checker.new_page()
        page.goto(server.url + "/counter/display")
        assert accessibility_violations(page) == []
    finally:
        checker.close()
