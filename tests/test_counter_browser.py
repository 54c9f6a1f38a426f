"""The clerk's flow in headless Chromium against `madoguchi serve`: sign in, open a printed form by
scanning its QR code (a USB scanner types the code and Enter), correct a value with a reason,
confirm, and follow the record to the core system. Screenshots go to tests/output/."""
import pytest
from playwright.sync_api import expect

from core.application import State, form_code
from core.store.applications import ApplicationStore
from tests.fixtures_counter import CERTIFICATE, PASSWORD, accessibility_violations, kiosk_application

pytestmark = pytest.mark.browser
LICENCE = {"address": "東京都千代田区千代田１－１", "address_at_issue": "東京都港区芝公園４－２－８"}


@pytest.fixture
def office_page(browser):
    """A page the size of an office PC's screen, in Japanese."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP", bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, url, username="sato"):
    page.goto(url + "/counter/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_selector("#code")


def test_clerk_opens_corrects_confirms_and_sees_the_forward(office_page, live_server, db, config, clerks,
                                                            output_dir):
    page = office_page
    moved = kiosk_application(db, reception="12", licence=LICENCE)
    other = kiosk_application(db, CERTIFICATE, reception="13")
    server = live_server("counter")

    sign_in(page, server.url)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'code'")  # the scanner's field
    assert page.locator("tr.open").count() == 2
    page.screenshot(path=output_dir / "counter-1-queue.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-1-queue"

    # A USB scanner: the code as fast keystrokes, then Enter.
    page.keyboard.type(form_code(moved.id), delay=2)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/counter/applications/{moved.id}")
    assert page.locator(".reception-big").inner_text().endswith("12")
    licence = page.locator("section[aria-labelledby=licence-heading]")
    assert "免許証に住所変更の記録があります" in licence.inner_text()
    assert "東京都港区芝公園４－２－８" in licence.inner_text()
    assert "運転免許証" in page.locator("#field-name").inner_text()
    page.screenshot(path=output_dir / "counter-2-detail.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-2-detail"

    # Correct the phone number, with a reason.
    page.locator("#field-phone").get_by_role("link").click()
    page.fill("#value", "090-9876-5432")
    page.get_by_role("button", name="訂正を保存する").click()
    expect(page.locator(".error-summary")).to_be_visible()  # no reason given
    page.wait_for_function("document.activeElement.classList.contains('error-summary')")
    page.screenshot(path=output_dir / "counter-3-correction-error.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-3-correction-error"
    page.fill("#reason", "住民の方からの申出")
    page.get_by_role("button", name="訂正を保存する").click()
    page.wait_for_url(f"**/counter/applications/{moved.id}#field-phone")
    row = page.locator("#field-phone")
    assert "印刷後に変更" in row.inner_text() and "090-9876-5432" in row.inner_text()
    assert "職員が訂正" in row.inner_text()
    page.screenshot(path=output_dir / "counter-4-corrected.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-4-corrected"

    # Confirm: the identity check (本人確認) and the box about the corrections come first.
    page.get_by_role("button", name="申請を確定する").click()
    expect(page.locator("#checked_corrections-error")).to_be_visible()
    expect(page.locator("#identity-error")).to_be_visible()
    page.select_option("#id_document_1", "driving_licence")
    page.check("#checked_corrections")
    page.get_by_role("button", name="申請を確定する").click()
    page.wait_for_selector("#forwarding")
    assert "確定しました" in page.locator(".banner.success").inner_text()
    stored = ApplicationStore(db).get(moved.id)
    assert stored.state in (State.CONFIRMED, State.FORWARDED) and stored.data["phone"] == "090-9876-5432"
    # Pending, or already delivered: the worker is quick when the core system answers at once.
    shown = page.locator("#forwarding [data-outbox-state]").get_attribute("data-outbox-state")
    assert shown in ("pending", "delivered")
    page.screenshot(path=output_dir / "counter-5-confirmed.png", full_page=True)

    # The forwarding worker running inside `madoguchi serve` ([backend] mode "file" here) delivers
    # the record; the page follows the outbox without a reload.
    page.wait_for_selector("[data-outbox-state=delivered]", timeout=20000)
    assert "送信済み" in page.locator("#forwarding").inner_text()
    page.wait_for_selector(".detail-head .state-forwarded")  # the state at the top follows
    assert ApplicationStore(db).get(moved.id).state is State.FORWARDED
    delivered = list(config.path(config.backend.folder).glob("*"))
    assert len(delivered) == 1 and moved.id in delivered[0].read_text(encoding="utf-8")
    page.screenshot(path=output_dir / "counter-6-delivered.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-6-delivered"  # nothing refreshes any more

    # Scanning another form from the detail page (no text field focused) opens it.
    page.locator("h1").click()
    page.keyboard.type(form_code(other.id) + "\n", delay=2)
    page.wait_for_url(f"**/counter/applications/{other.id}")
    assert page.locator(".reception-big").inner_text().endswith("13")


def test_supervisor_figures_and_the_printed_log_for_a_resident(office_page, live_server, db, config, clerks,
                                                               output_dir):
    from core.outbox import confirm
    page = office_page
    app = kiosk_application(db, reception="21")
    server = live_server("counter")
    sign_in(page, server.url, "suzuki")
    # A scanner set to end its code with Tab instead of Enter opens the form too.
    page.keyboard.type(form_code(app.id), delay=2)
    page.keyboard.press("Tab")
    page.wait_for_url(f"**/counter/applications/{app.id}")

    # Reprint: the form goes to the (pdf-folder) printer.
    page.get_by_role("button", name="再印刷する").click()
    page.wait_for_selector(".banner")
    assert "申請書をプリンタに送りました" in page.locator(".banner.success").inner_text()
    printed = list(config.path(config.devices.pdf_folder).glob("*.pdf"))
    assert len(printed) == 1 and printed[0].read_bytes().startswith(b"%PDF-")
    (output_dir / "counter-reprint.pdf").write_bytes(printed[0].read_bytes())
    confirm(db, ApplicationStore(db).get(app.id), actor="clerk:suzuki")
    page.goto(f"{server.url}/counter/figures")
    assert page.locator("#fig-visits").inner_text() == "1"
    assert page.locator("#fig-confirmed").inner_text() == "1"
    page.screenshot(path=output_dir / "counter-7-figures.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-7-figures"

    page.goto(f"{server.url}/counter/applications/{app.id}/person-log")
    assert page.locator("table tbody tr").count() >= 3  # card read, print, clerk view
    page.screenshot(path=output_dir / "counter-8-person-log.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-8-person-log"
    with page.expect_popup() as popup:
        page.get_by_role("button", name="交付用の履歴を開く（PDF）").click()
    pdf_page = popup.value
    pdf_page.wait_for_load_state()
    response = page.request.post(f"{server.url}/counter/exchange-log/person/print", form={
        "csrf_token": page.locator("input[name=csrf_token]").first.get_attribute("value"),
        "name": "山田\u3000太郎", "birth_date": "1985-04-01"})
    assert response.ok and response.headers["content-type"] == "application/pdf"
    (output_dir / "counter-person-log.pdf").write_bytes(response.body())


def test_the_ime_warning_shows_only_while_japanese_input_is_on(office_page, live_server, db, clerks):
    page = office_page
    kiosk_application(db, reception="A-001")
    sign_in(page, live_server("counter").url)
    warning = page.locator("#ime-warning")
    expect(warning).to_be_hidden()                       # on load: no IME has been seen
    page.keyboard.type("MDGF1", delay=5)                 # direct input
    expect(warning).to_be_hidden()
    cdp = page.context.new_cdp_session(page)             # what an IME does: compose, then commit
    cdp.send("Input.imeSetComposition", {"text": "ｍ", "selectionStart": 1, "selectionEnd": 1})
    expect(warning).to_be_visible()
    cdp.send("Input.insertText", {"text": "ｍ"})
    expect(warning).to_be_visible()                      # full-width text stays in the field
    page.fill("#code", "")
    page.keyboard.type("A-001", delay=5)                 # IME off again
    expect(warning).to_be_hidden()
    page.keyboard.press("Enter")                         # and the reception number opens the application
    page.wait_for_url("**/counter/applications/*")


def test_the_reject_form_asks_what_to_bring_and_a_note(office_page, live_server, db, clerks, output_dir):
    page = office_page
    app = kiosk_application(db, reception="21")
    server = live_server("counter")
    sign_in(page, server.url)
    page.goto(f"{server.url}/counter/applications/{app.id}/reject")
    page.fill("#reason", "転出証明書をお持ちでない")
    page.check("#bring-moving_out_certificate")
    page.fill("#note", "平日の9時から17時にお越しください")
    page.screenshot(path=output_dir / "counter-reject.png", full_page=True)
    assert accessibility_violations(page) == [], "counter-reject"
    page.get_by_role("button", name="申請を却下する").click()
    page.wait_for_url(f"**/counter/applications/{app.id}")
    assert ApplicationStore(db).get(app.id).state is State.REJECTED
