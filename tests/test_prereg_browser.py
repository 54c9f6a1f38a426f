"""The resident's flow in headless Chromium on a phone-sized screen, against `madoguchi serve`.

Each scenario saves screenshots under tests/output/prereg/, decodes the QR code from the
screenshot of the confirmation page with zxing-cpp, and opens the application on the office
side with that token. axe-core checks every page of the flows (0 violations).
"""
from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import zxingcpp

from core import sealed
from core.config import load_config
from core.japanese import split_name
from core.services.prereg import open_preregistration
from core.store.db import open_from_config
from tests.fixtures_browser import assert_accessible

pytestmark = pytest.mark.browser


@pytest.fixture
def server(live_server):
    return live_server("prereg")


@pytest.fixture
def office(config_file, tmp_path):
    """The office side of the all-in-one setup: the same database."""
    config = load_config(config_file, base_dir=tmp_path)
    db = open_from_config(config)
    yield config, db
    db.conn.close()


@pytest.fixture
def shots(output_dir):
    folder = output_dir / "prereg"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Resident:
    """Drives the wizard like a person: fills what each page asks, presses Continue."""

    def __init__(self, page, shots, name, axe=False):
        self.page, self.shots, self.name, self.axe, self.n = page, shots, name, axe, 0

    def snap(self, label=None):
        self.n += 1
        path = self.shots / f"{self.name}-{self.n:02d}-{label or self.slug()}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if self.axe:
            assert_accessible(self.page)
        return path

    def slug(self):
        return re.sub(r"[^a-z0-9]+", "-", self.page.url.split("/prereg/", 1)[-1].split("?")[0]).strip("-") or "start"

    def submit(self):
        self.page.locator("main form button[type=submit]").first.click()
        self.page.wait_for_load_state()

    def question(self):
        m = re.search(r"/prereg/q/([a-z_]+)", self.page.url)
        return m.group(1) if m else None

    def fill(self, name, value, prefix=""):
        page, n = self.page, prefix + name
        if page.locator(f"select[name='{n}__era']").count():
            era, y, m, d = value
            page.select_option(f"select[name='{n}__era']", era)
            page.fill(f"input[name='{n}__year']", str(y))
            page.fill(f"input[name='{n}__month']", str(m))
            page.fill(f"input[name='{n}__day']", str(d))
        elif page.locator(f"input[name='{n}__town']").count():
            town, rest = value
            if town is not None:
                page.fill(f"input[name='{n}__town']", town)
            page.fill(f"input[name='{n}__rest']", rest)
        elif page.locator(f"input[name='{n}__family']").count():   # 姓 and 名 apart
            family, given = split_name(value) if isinstance(value, str) else value
            page.fill(f"input[name='{n}__family']", family)
            page.fill(f"input[name='{n}__given']", given)
        elif page.locator(f"input[type=radio][name='{n}']").count():
            page.check(f"input[type=radio][name='{n}'][value='{value}']")
        else:
            page.fill(f"input[name='{n}']", str(value))

    def answer_until_check(self, answers, members=()):
        members = list(members)
        for _ in range(40):
            name = self.question()
            if name is None:
                return
            self.snap()
            if name == "household":
                if members:
                    self.page.check("input[name='add'][value='yes']")
                    self.submit()
                    person = members.pop(0)
                    for key, value in person.items():
                        self.fill(key, value, prefix="m_")
                    self.snap()
                    self.submit()
                    continue
                self.page.check("input[name='add'][value='no']")
                self.submit()
                continue
            assert name in answers, f"no answer for {name}"
            self.fill(name, answers[name])
            self.submit()
            assert self.question() != name, self.page.locator(".error-summary").inner_text()
        raise AssertionError("the wizard did not end")


def qr_token_from_screenshot(path) -> str:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    found = [b.text for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(found) == 1, f"QR codes found in {path}: {found}"
    return found[0]


TENNYU = {
    "name": "転入\u3000試験太郎", "kana": "てんにゅう　しけんたろう", "birth_date": ("showa", 55, 4, 1),
    "sex": "male", "postal_code": "100-0001", "address": (None, "１－１－１\u3000窓口ハイツ101"),
    "phone": "090-1234-5678", "move_date": ("reiwa", 8, 11, 1), "previous_postal_code": "0600000",
    "previous_address": (None, "北１条西２丁目"), "relationship_to_head": "head", "tokurei_tennyu": "no",
    "previous_resident_code": "", "nationality_kind": "japanese", "honseki": ("", ""), "hittousha": "",
    "notifier_type": "self", "pension_type": "kosei", "spouse_name": "転入\u3000試験花子",
    "jido_older_children": "0", "jido_payment": "account", "bank_name": "まどぐち銀行",
    "bank_branch": "本店", "account_type": "futsu", "account_number": "1234567",
    "account_holder_kana": "テンニュウ シケンタロウ",
}
MEMBERS = [
    {"name": "転入\u3000試験花子", "kana": "テンニュウ　シケンハナコ", "birth_date": ("heisei", 2, 9, 12),
     "sex": "female", "relationship": "spouse"},
    {"name": "転入\u3000試験一郎", "kana": "テンニュウ　シケンイチロウ", "birth_date": ("western", 2021, 3, 3),
     "sex": "male", "relationship": "child"},
]


def test_moving_in_with_two_household_members_in_japanese(axe_page, server, office, shots):
    page = axe_page
    me = Resident(page, shots, "tennyu-ja", axe=True)
    page.goto(server.url + "/prereg/?lang=ja")
    assert page.locator("h1").inner_text() == "市役所に来る前に申請"
    me.snap("start")
    page.click("main a.button")
    page.check("input[name='event'][value='moving_in']")
    me.snap()
    me.submit()
    # 手続きナビ: yes/no questions; a child in the household brings the child allowance (and the
    # children's medical subsidy); an employer's insurance and pension keep kokuho and nenkin out.
    for question, answer in (("wants_seal", "no"), ("has_child", "yes"), ("has_employer_insurance", "yes"),
                             ("has_employer_pension", "yes"), ("care_certified", "no"), ("has_mynumber_card", "no"),
                             ("has_registered_dog", "no"), ("has_dog", "no")):
        assert page.locator("input[name='q']").get_attribute("value") == question
        page.check(f"input[name='answer'][value='{answer}']")
        me.snap(f"guide-{question}")
        me.submit()
    # juminido is pre-selected by the life event, the child allowance by the answer, with its reason.
    assert page.locator("input[name='procedures'][value='juminido']").is_checked()
    assert page.locator("input[name='procedures'][value='jido_teate']").is_checked()
    assert "15日以内に児童手当の申請" in page.locator("main").inner_text()
    assert not page.locator("input[name='procedures'][value='inkan_toroku']").is_checked()
    assert page.locator("input[name='procedures'][value='kodomo_iryo']").is_checked()
    page.uncheck("input[name='procedures'][value='kodomo_iryo']")   # the resident leaves it for later
    me.snap()
    me.submit()
    me.answer_until_check(TENNYU, MEMBERS)
    assert page.url.endswith("/prereg/check")
    body = page.locator("main").inner_text()
    for text in ("転入\u3000試験太郎", "テンニュウ\u3000シケンタロウ", "1980年4月1日（昭和55年）",
                 "東京都千代田区千代田１－１－１\u3000窓口ハイツ101", "北海道札幌市中央区北１条西２丁目",
                 "転入\u3000試験花子（テンニュウ\u3000シケンハナコ）", "夫・妻（配偶者）", "子"):
        assert text in body, text
    me.snap()
    me.submit()
    assert page.url.endswith("/prereg/done")
    page.wait_for_function("() => document.getElementById('qr').complete"
                           " && document.getElementById('qr').naturalWidth > 0")
    assert "有効期限" in page.locator("main").inner_text()
    shot = me.snap("done")
    token = qr_token_from_screenshot(shot)
    config, db = office
    form = open_preregistration(db, config, token, actor="kiosk:test").form
    assert form is not None
    assert form["procedures"] == ["juminido", "jido_teate"]
    assert form["name"] == "転入\u3000試験太郎" and form["kana"] == "テンニュウ\u3000シケンタロウ"
    assert form["birth_date"] == "1980-04-01" and form["move_date"] == "2026-11-01"
    assert form["move_type"] == "tennyu" and form["address"] == "東京都千代田区千代田１－１－１\u3000窓口ハイツ101"
    assert [(m["name"], m["birth_date"], m["relationship"]) for m in form["household"]] == [
        ("転入\u3000試験花子", "1990-09-12", "spouse"), ("転入\u3000試験一郎", "2021-03-03", "child")]
    # The printable page and the withdrawal confirmation are part of the flow too.
    page.click("text=印刷用のページ（A4）")
    page.wait_for_function("() => document.querySelector('.qr-image').naturalWidth > 0")
    me.snap("print")
    page.emulate_media(media="print")
    page.pdf(path=str(shots / "tennyu-ja-print.pdf"), format="A4")
    page.emulate_media(media="screen")
    page.goto(server.url + "/prereg/withdraw")
    me.snap("withdraw")
    page.locator("main form button[type=submit]").click()
    me.snap("withdrawn")
    with pytest.raises(sealed.TokenError) as e:
        sealed.open_prereg_envelope(config, token, db)
    assert e.value.code == "unknown_id"


CERTIFICATE = {"name": "Maria Silva", "kana": "マリア　シルバ", "birth_date": ("western", 1992, 7, 14),
               "sex": "female", "postal_code": "060-0000", "address": (None, "1-2 Sapporo Court 305"),
               "phone": "+819012345678", "juminhyo_scope": "household", "juminhyo_copies": "2",
               "juminhyo_include_head": "yes", "juminhyo_include_honseki": "no",
               "juminhyo_include_my_number": "no", "juminhyo_purpose": "work"}


def test_certificate_request_in_english_under_the_csp(page, server, office, shots):
    """Under the real CSP: no inline script runs, and the JavaScript that does run is ours."""
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    me = Resident(page, shots, "certificate-en")
    page.goto(server.url + "/prereg/?lang=en")
    me.snap("start")
    page.click("text=Start now")
    page.check("input[name='event'][value='certificates']")
    me.submit()
    page.check("input[name='procedures'][value='juminhyo']")
    me.submit()
    me.answer_until_check({k: v for k, v in CERTIFICATE.items() if k != "postal_code"} | {"postal_code": "060-0000"})
    assert page.url.endswith("/prereg/check")
    body = page.locator("main").inner_text()
    assert "July 14, 1992" in body and "Everyone in my household" in body and "060-0000" in body
    me.snap()
    # Change an answer from the check page: back to the check page after one question.
    page.click("a[href$='/prereg/q/juminhyo_copies']")
    page.fill("input[name='juminhyo_copies']", "3")
    me.submit()
    assert page.url.endswith("/prereg/check")
    me.submit()
    page.wait_for_function("() => document.getElementById('qr').naturalWidth > 0")
    assert "Valid until" in page.locator("main").inner_text()
    shot = me.snap("done")
    token = qr_token_from_screenshot(shot)
    config, db = office
    _, env = sealed.open_prereg_envelope(config, token, db)
    assert env.lang == "en"
    assert env.form == {"procedures": ["juminhyo"], "name": "Maria Silva", "kana": "マリア\u3000シルバ",
                        "birth_date": "1992-07-14", "sex": "female", "postal_code": "0600000",
                        "address": "北海道札幌市中央区1-2 Sapporo Court 305", "phone": "+819012345678",
                        "juminhyo_scope": "household", "juminhyo_copies": 3, "juminhyo_include_head": True,
                        "juminhyo_include_honseki": False, "juminhyo_include_my_number": False,
                        "juminhyo_purpose": "work"}
    # The PNG download is the same code.
    with page.expect_download() as dl:
        page.click("text=Download the QR code (PNG)")
    png = dl.value.path().read_bytes()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert [b.text for b in zxingcpp.read_barcodes(image)] == [token]
    assert not problems, problems


def test_postal_code_preview_with_javascript(page, server, shots):
    page.goto(server.url + "/prereg/event?lang=ja")
    page.check("input[name='event'][value='certificates']")
    page.locator("main form button[type=submit]").click()
    page.check("input[name='procedures'][value='juminhyo']")
    page.locator("main form button[type=submit]").click()
    page.goto(server.url + "/prereg/q/postal_code")
    page.fill("input[name='postal_code']", "１０００００１")
    page.wait_for_function("() => document.getElementById('f-postal_code-result').textContent.includes('千代田')")
    assert "東京都千代田区千代田" in page.locator("#f-postal_code-result").inner_text()
    page.screenshot(path=str(shots / "postal-preview.png"), full_page=True)


def test_error_path_shows_a_summary_linking_to_each_field(axe_page, server, shots):
    page = axe_page
    me = Resident(page, shots, "errors-ja-easy", axe=True)
    page.goto(server.url + "/prereg/event?lang=ja-easy")
    me.submit()  # nothing chosen
    assert page.locator(".error-summary").is_visible()
    assert page.title().startswith("エラー")
    me.snap("event-error")
    page.wait_for_function("document.activeElement.dataset.module === 'error-summary'")  # focused on load
    # The summary's link goes to the field (focus moves there).
    page.locator(".error-summary a").first.click()
    assert page.evaluate("document.activeElement.id") == "f-event"
    page.check("input[name='event'][value='seal']")
    me.submit()
    me.submit()  # inkan_toroku is pre-selected
    assert me.question() == "name"
    me.submit()  # empty required name
    assert page.locator("#f-name-error").is_visible()
    assert page.locator("#f-name").get_attribute("aria-invalid") == "true"
    me.snap("name-required")
    page.fill("#f-name", "エラー")
    page.fill("#f-name-given", "確認")
    me.submit()
    page.fill("#f-kana", "abc")
    me.submit()
    assert "カタカナ" in page.locator(".error-summary").inner_text()
    assert page.locator("#f-kana").input_value() == "abc"  # what was typed is kept
    me.snap("kana-error")
    page.fill("#f-kana", "えらー")
    page.fill("#f-kana-given", "かくにん")
    me.submit()
    # 平成 ended in its 31st year: 平成40年 does not exist.
    me.fill("birth_date", ("heisei", 40, 1, 1))
    me.submit()
    assert page.locator("#f-birth_date-error").is_visible()
    me.snap("era-error")
    me.fill("birth_date", ("heisei", 2, 2, 30))
    me.submit()
    assert page.locator("#f-birth_date-error").is_visible()
    me.fill("birth_date", ("heisei", 2, 2, 28))
    me.submit()
    page.check("input[name='sex'][value='unknown']")
    me.submit()
    page.fill("#f-postal_code", "12345")
    me.submit()
    assert page.locator("#f-postal_code-error").is_visible()
    me.snap("postal-error")
    # An unknown (but well-formed) postal code: the address page asks for the whole address.
    page.fill("#f-postal_code", "999-9999")
    me.submit()
    assert me.question() == "address"
    assert page.locator("#f-address-town").input_value() == ""
    me.snap("postal-unknown")
    # The browser keeps to the size limit (maxlength); the server checks it too (test_prereg_flow).
    assert page.locator("#f-address-rest").get_attribute("maxlength") == "200"


def test_the_other_kinds_of_page_are_accessible_too(axe_page, server, shots):
    """Pages the scenarios above do not check with axe: yes/no questions, the member form with
    errors, removing a person, and the expired-form page (here in Vietnamese and Korean)."""
    page = axe_page
    me = Resident(page, shots, "more-vi", axe=True)
    page.goto(server.url + "/prereg/event?lang=vi")
    page.check("input[name='event'][value='moving_within']")
    me.submit()
    while page.url.endswith("/prereg/guide"):        # 手続きナビ: "no" to each question
        page.check("input[name='answer'][value='no']")
        me.submit()
    me.submit()  # juminido is pre-selected
    basics = {k: CERTIFICATE[k] for k in ("name", "kana", "birth_date", "sex", "postal_code", "address", "phone")}
    for _ in range(len(basics)):
        me.fill(me.question(), basics[me.question()])
        me.submit()
    assert me.question() == "household"
    page.check("input[name='add'][value='yes']")
    me.submit()
    me.submit()  # the member form, empty: an error for every field
    assert page.locator(".error-summary li").count() == 5
    me.snap("member-errors")
    for key, value in MEMBERS[1].items():
        me.fill(key, value, prefix="m_")
    me.submit()
    page.click("main a[href$='/remove']")
    me.snap("remove")
    page.check("input[name='remove'][value='no']")
    me.submit()
    page.goto(server.url + "/prereg/event?lang=ko")
    page.check("input[name='event'][value='certificates']")
    me.submit()
    page.check("input[name='procedures'][value='juminhyo']")
    me.submit()
    page.goto(server.url + "/prereg/q/juminhyo_include_head")
    me.snap("yes-no")
    page.context.clear_cookies()  # the session is gone: the form can no longer be sent
    page.check("input[name='juminhyo_include_head'][value='yes']")
    me.submit()
    # the language cookie went too: the browser asks for ja
    assert "有効期限が切れました" in page.locator("h1").inner_text()
    me.snap("expired")
