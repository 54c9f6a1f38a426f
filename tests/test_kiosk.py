"""The kiosk's visitor flow through Flask's test client, with the real emulated card reader
(hardware.cards, direct transport), real pre-registrations (core.sealed), the real renderer
and the pdf-folder printer. Browser tests (headless Chromium, pcscd + vpcd, CUPS) are in
test_kiosk_browser.py."""
from __future__ import annotations

import json
import time
from datetime import date

import pytest

from core import exchange_log as xlog
from core.application import State
from core.keys import subject_key
from core.store.applications import ApplicationStore
from core.store.db import open_from_config
from kiosk import reception
from tests.kiosk_helpers import Kiosk, csp_safe, printed_visit


def db_of(kiosk: Kiosk):
    return open_from_config(kiosk.config)


# --- start screen -----------------------------------------------------------------------------

def test_start_screen_offers_seven_languages_and_two_ways_in(kiosk):
    r = kiosk.start("ja")
    page = kiosk.text
    assert r.status_code == 200
    for code in ("ja", "en", "zh", "ko", "vi", "pt", "ja-easy"):
        assert f'href="/kiosk/?lang={code}"' in page
    assert "QRコードをかざす" in page and "マイナンバーカードを置く" in page
    assert 'href="/kiosk/qr"' in page and 'href="/kiosk/card"' in page
    assert r.headers["Cache-Control"].startswith("no-store")
    assert csp_safe(page) == []


def test_each_visitor_starts_in_the_kiosk_language(kiosk):
    kiosk.start("en")
    assert "Show the QR code" in kiosk.text
    kiosk.get("/kiosk/qr")
    assert "Hold the QR code" in kiosk.text          # the choice holds for the visit
    r = kiosk.get("/kiosk/")                          # the next visitor
    assert "QRコードをかざす" in kiosk.text
    assert "lang=;" in r.headers.get("Set-Cookie", "") or "lang=" in r.headers.get("Set-Cookie", "")


def test_language_button_returns_to_the_same_screen(kiosk):
    kiosk.start("ja")
    kiosk.get("/kiosk/qr")
    kiosk.get("/kiosk/language?next=/kiosk/qr")
    assert 'href="/kiosk/qr?lang=vi"' in kiosk.text
    kiosk.get("/kiosk/qr?lang=vi")
    assert "Hãy đưa mã QR" in kiosk.text
    # Only kiosk pages: never an address elsewhere.
    kiosk.get("/kiosk/language?next=https://example.org/")
    assert 'href="/kiosk/?lang=en"' in kiosk.text


# --- card path --------------------------------------------------------------------------------

def test_right_pin_reads_the_card_and_logs_the_read(kiosk):
    kiosk.start("en")
    kiosk.insert("mynumber_yamada")
    kiosk.get("/kiosk/card")
    assert 'href="/kiosk/card/pin"' in kiosk.text           # "I have placed my card"
    kiosk.get("/kiosk/card/pin")
    assert "You can try 3 more times." in kiosk.text
    assert 'autocomplete="off"' in kiosk.text and 'name="pin"' in kiosk.text
    r = kiosk.post("/kiosk/card/pin", {"pin": "1234"})
    assert r.location == "/kiosk/purpose"
    visit = kiosk.visit()
    assert visit.card.fields["name"] == "山田\u3000太郎" and visit.card.fields["birth_date"] == "1980-05-17"
    assert kiosk.card_tries() == 3                           # a right PIN restores the counter
    db = db_of(kiosk)
    [entry] = list(xlog.entries(db))
    assert (entry["actor"], entry["counterparty"], entry["purpose"]) == ("kiosk:kiosk-1", "mynumber_card", "card_read")
    assert entry["application_id"] == visit.application_id
    assert entry["payload_sha256"] == xlog.payload_digest(visit.card.fields)
    assert entry["subject_ref"] == xlog.subject_ref(subject_key(kiosk.config), "山田\u3000太郎", "1980-05-17")
    assert xlog.verify(db).ok


def test_wrong_pin_uses_one_try_and_shows_what_is_left(kiosk):
    kiosk.start("en")
    kiosk.read_card(pin="9999")
    assert kiosk.last.location == "/kiosk/card/pin"
    kiosk.get("/kiosk/card/pin")
    assert "The PIN is not correct." in kiosk.text and "You can try 2 more times." in kiosk.text
    assert kiosk.card_tries() == 2
    assert list(xlog.entries(db_of(kiosk))) == []            # nothing was read


@pytest.mark.parametrize("typed", ["123", "12345", "12a4", "", "１２３"])
def test_a_pin_that_is_not_four_digits_never_reaches_the_card(kiosk, typed):
    kiosk.start("en")
    kiosk.read_card(pin=typed)
    kiosk.get("/kiosk/card/pin")
    assert "Enter the 4 digits of your PIN." in kiosk.text
    assert kiosk.card_tries() == 3


def test_full_width_digits_are_accepted_as_the_pin(kiosk):
    kiosk.start("en")
    r = kiosk.read_card(pin="１２３４")
    assert r.location == "/kiosk/purpose"


def test_one_try_left_sends_the_visitor_to_a_clerk_without_asking(kiosk):
    kiosk.start("en")
    kiosk.insert("mynumber_last_try")
    kiosk.get("/kiosk/card")
    r = kiosk.get("/kiosk/card/pin")
    assert r.location == "/kiosk/card/clerk"
    kiosk.get("/kiosk/card/clerk")
    assert "Only one PIN try is left on this card." in kiosk.text
    assert 'name="pin"' not in kiosk.text
    assert kiosk.card_tries() == 1


def test_a_wrong_pin_that_leaves_one_try_ends_at_the_clerk(kiosk):
    kiosk.start("en")
    kiosk.read_card(pin="0000")
    kiosk.post("/kiosk/card/pin", {"pin": "0000"})
    assert kiosk.last.location == "/kiosk/card/clerk"
    assert kiosk.card_tries() == 1
    # Even a direct post cannot spend the last try.
    kiosk.post("/kiosk/card/pin", {"pin": "1234"})
    assert kiosk.last.location == "/kiosk/card/clerk"
    assert kiosk.card_tries() == 1


def test_blocked_card_goes_to_the_clerk(kiosk):
    kiosk.start("en")
    kiosk.insert("mynumber_blocked")
    kiosk.get("/kiosk/card/pin")
    kiosk.get("/kiosk/card/clerk")
    assert "PIN is locked" in kiosk.text


def test_no_card_and_unknown_card_explain_themselves(kiosk):
    kiosk.start("en")
    kiosk.get("/kiosk/card/pin")
    assert kiosk.last.location == "/kiosk/card"
    kiosk.get("/kiosk/card")
    assert "No card was found on the reader." in kiosk.text
    kiosk.insert("other_card")
    kiosk.get("/kiosk/card/pin")
    kiosk.get("/kiosk/card")
    assert "This card cannot be read here." in kiosk.text


def test_licence_fills_the_name_and_is_marked_as_from_the_licence(kiosk):
    kiosk.start("en")
    r = kiosk.read_card("licence_takahashi_gaiji", "3141")
    assert r.location == "/kiosk/purpose"
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    assert "From your driver&#39;s licence" in kiosk.text or "From your driver's licence" in kiosk.text
    assert "data-gaiji" in kiosk.text and "shown as 〓" in kiosk.text       # 髙 is 外字 on the licence
    v = kiosk.visit()
    assert v.sources["name"] == "licence" and v.card.gaiji and v.card.gaiji[0]["field"] == "name"
    [entry] = list(xlog.entries(db_of(kiosk)))
    assert entry["counterparty"] == "driving_licence"


def test_licence_without_pin_skips_the_pin_pad(kiosk):
    kiosk.start("en")
    kiosk.insert("licence_nakamura_no_pin")
    r = kiosk.get("/kiosk/card/pin")
    assert r.location == "/kiosk/purpose"
    assert kiosk.visit().card.kind == "licence"


def test_removing_the_card_ends_the_visit(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    stop = kiosk.hub.start_services()
    try:
        since = kiosk.hub.seq
        kiosk.remove()
        deadline = time.monotonic() + 5
        while kiosk.visit() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kiosk.visit() is None
        events = kiosk.get(f"/kiosk/events?since={since}").get_json()["events"]
        assert {"type": "navigate", "url": "/kiosk/?notice=card_removed"} in events
    finally:
        stop()
    r = kiosk.get("/kiosk/confirm")
    assert r.location == "/kiosk/?notice=card_removed"
    kiosk.get(r.location)
    assert "カードが読取り機から外されたため" in kiosk.text       # in the kiosk's language: a new visit


def test_putting_a_card_down_moves_the_page_to_the_pin_pad(kiosk):
    kiosk.start("en")
    kiosk.get("/kiosk/card")
    assert kiosk.last.status_code == 200
    seq = kiosk.hub.seq
    stop = kiosk.hub.start_services()
    try:
        kiosk.insert("mynumber_yamada")
        body = kiosk.get(f"/kiosk/events?since={seq}&wait=5").get_json()
    finally:
        stop()
    assert {"type": "navigate", "url": "/kiosk/card/pin"} in body["events"]


# --- procedures and questions -------------------------------------------------------------------

def test_life_event_suggests_its_procedures_and_presets_the_move(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.post("/kiosk/purpose", {"event": "moving_in"})
    kiosk.get("/kiosk/procedures")
    page = kiosk.text
    assert 'value="juminido" checked' in page                     # required: pre-selected
    assert 'value="inkan_toroku">' in page and "You may also need this" in page
    kiosk.post("/kiosk/procedures", {"procedure": ["juminido", "jido_teate"]})
    v = kiosk.visit()
    assert v.values["move_type"] == "tennyu" and v.sources["move_type"] == "typed"
    assert v.values["name"] == "山田\u3000太郎" and v.sources["name"] == "card"
    assert "address" not in v.values          # the card shows the old address: not used for 転入


def test_only_what_the_card_cannot_give_is_asked(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    asked = kiosk.answer_all()
    assert "name" not in asked and "birth_date" not in asked and "sex" not in asked and "address" not in asked
    assert asked[:2] == ["kana", "postal_code"] and "phone" in asked and "juminhyo_copies" in asked
    v = kiosk.visit()
    assert v.values["kana"] == "ヤマダ\u3000タロウ"                  # hiragana typed → katakana
    assert v.values["juminhyo_copies"] == 2


def test_bad_answers_are_explained_next_to_the_field_and_lose_nothing(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.post("/kiosk/ask/kana", {"value": "やまだ"})
    r = kiosk.post("/kiosk/ask/postal_code", {"value": "12-34"})
    assert r.status_code == 400                                 # shown again with its problems
    page = kiosk.text
    assert "There is a problem" in page and 'href="#f-postal_code"' in page
    assert "Enter postal code as 7 digits, like 100-0001" in page
    assert 'value="12-34"' in page                                 # what was typed stays
    assert kiosk.visit().values["kana"] == "ヤマダ"
    r = kiosk.post("/kiosk/ask/postal_code", {"value": "１００-００１３"})
    assert r.status_code == 302 and kiosk.visit().values["postal_code"] == "1000013"


def test_address_question_starts_from_the_postal_code(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_within", ["juminido"])
    kiosk.post("/kiosk/ask/postal_code", {"value": "1000013"})
    kiosk.get("/kiosk/ask/address")
    assert 'value="東京都千代田区霞が関"' in kiosk.text


def test_dates_in_the_japanese_calendar(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    r = kiosk.post("/kiosk/ask/move_date", {"era": "reiwa", "year": "8", "month": "11", "day": "1"})
    assert r.status_code == 302 and kiosk.visit().values["move_date"] == "2026-11-01"
    r = kiosk.post("/kiosk/ask/move_date", {"era": "heisei", "year": "40", "month": "1", "day": "1"})
    assert r.status_code == 400 and "does not exist in that era. Check the era and the year" in kiosk.text
    r = kiosk.post("/kiosk/ask/move_date", {"era": "heisei", "year": "30", "month": "2", "day": "30"})
    assert r.status_code == 400 and "Date of move must be a real date" in kiosk.text
    r = kiosk.post("/kiosk/ask/move_date", {"era": "meiji", "year": "元", "month": "12", "day": "1"})
    assert r.status_code == 302 and kiosk.visit().values["move_date"] == "1868-12-01"


def test_household_members_are_added_changed_and_removed(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    member = {"name": "山田　花子", "kana": "やまだ はなこ", "birth_era": "showa", "birth_year": "62",
              "birth_month": "9", "birth_day": "12", "sex": "female", "relationship": "spouse"}
    r = kiosk.post("/kiosk/ask/household/member", member)
    assert r.location == "/kiosk/ask/household"
    r = kiosk.post("/kiosk/ask/household/member", {**member, "name": "", "birth_year": ""})
    assert r.status_code == 400 and "Enter full name" in kiosk.text
    assert "Date of birth must include a year, a month and a day" in kiosk.text
    kiosk.post("/kiosk/ask/household/member", {**member, "name": "山田　一郎", "kana": "ヤマダ イチロウ",
                                               "birth_era": "western", "birth_year": "2015", "sex": "male",
                                               "relationship": "child"})
    hh = kiosk.visit().values["household"]
    assert [m["name"] for m in hh] == ["山田\u3000花子", "山田\u3000一郎"]
    assert hh[0]["birth_date"] == "1987-09-12" and hh[0]["kana"] == "ヤマダ\u3000ハナコ"
    kiosk.post("/kiosk/ask/household", {"action": "remove:1"})
    kiosk.get("/kiosk/ask/household")
    assert "山田　花子" in kiosk.text and "山田　一郎" not in kiosk.text


def test_confirm_marks_where_each_value_came_from_and_allows_corrections(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    page = kiosk.text
    assert "Check your details" in page and "山田　太郎" in page
    assert page.count("k-source k-source-card") >= 4 + 1       # name, birth date, sex, address (+ legend)
    assert 'href="/kiosk/ask/name?back=confirm"' in page
    r = kiosk.post("/kiosk/ask/phone?back=confirm", {"value": "03-5555-0199"})
    assert r.location == "/kiosk/confirm"
    kiosk.post("/kiosk/ask/name?back=confirm", {"value": "山田　太朗"})
    v = kiosk.visit()
    assert v.values["name"] == "山田\u3000太朗" and v.sources["name"] == "typed"


# --- print -------------------------------------------------------------------------------------

def test_printing_makes_a_printed_application_with_a_reception_number(kiosk, tmp_path):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    app_id = kiosk.visit().application_id
    r = kiosk.print_and_wait()
    assert r.request.path == "/kiosk/done", kiosk.text
    assert "A-001" in kiosk.text and "Your forms are printed" in kiosk.text
    assert "市民課" in kiosk.text or "Citizens" in kiosk.text
    v = kiosk.visit()
    assert v.finished and v.values == {} and v.card is None and v.pdf is None     # nothing personal kept
    db = db_of(kiosk)
    app = ApplicationStore(db).get(app_id)
    assert app.state == State.PRINTED and app.reception_number == "A-001" and app.channel == "kiosk"
    assert app.sources["name"] == "card" and app.sources["kana"] == "typed"
    assert [e.new for e in ApplicationStore(db).events(app_id) if e.kind == "state"] == ["submitted", "printed"]
    [created] = [e.new for e in ApplicationStore(db).events(app_id) if e.kind == "created"]
    assert created["office"] == "honcho"         # [kiosk].office unset: the site's first office (the figures')
    purposes = [(e["purpose"], e["application_id"], e["counterparty"]) for e in xlog.entries(db)]
    assert purposes == [("card_read", app_id, "mynumber_card"), ("print", app_id, "printer:pdf-folder")]
    [pdf] = list((tmp_path / "var" / "printed").glob("*.pdf"))
    [printed] = [e.new for e in ApplicationStore(db).events(app_id) if e.kind == "printed"]
    assert printed == {"queue": "pdf-folder", "job_id": pdf.stem}   # which job printed it
    import pdfplumber
    with pdfplumber.open(pdf) as doc:
        text = "".join(p.extract_text() or "" for p in doc.pages)
    assert "山田" in text and "ヤマダ" in text
    assert "1234" not in json.dumps(app.data)          # the PIN is nowhere
    # The next visitor gets the next number.
    kiosk.post("/kiosk/end")
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    kiosk.print_and_wait()
    assert "A-002" in kiosk.text


def test_reception_numbers_restart_each_day(db):
    assert reception.next_number(db, "A", date(2026, 4, 1)) == "A-001"
    assert reception.next_number(db, "A", date(2026, 4, 1)) == "A-002"
    assert reception.next_number(db, "B", date(2026, 4, 1)) == "B-001"
    assert reception.next_number(db, "A", date(2026, 4, 2)) == "A-001"
    with pytest.raises(reception.ReceptionError):
        reception.next_number(db, "a1")


def a_print_that_fails(kiosk):
    """A visitor's certificate sent to a printer that fails: the visit, after the kiosk says so."""
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    kiosk.print_and_wait()
    assert "Your forms could not be printed" in kiosk.text and "Try again" in kiosk.text
    return kiosk.visit()


def test_printer_trouble_keeps_everything_and_a_retry_prints(kiosk_app, tmp_path):
    kiosk = Kiosk(kiosk_app(devices={"emulator_persona": "", "printer": "no-such-queue"}))
    v = a_print_that_fails(kiosk)
    assert v.print.state == "failed" and v.values["kana"] and v.reception_number == "A-001"
    app = ApplicationStore(db_of(kiosk)).get(v.application_id)
    assert app.state == State.SUBMITTED
    # The printer is fixed: the same application prints, with the same reception number.
    kiosk.hub.devices.config = kiosk.config.replace({"devices": {"printer": "pdf-folder"}})
    kiosk.print_and_wait()
    assert "A-001" in kiosk.text and "Your forms are printed" in kiosk.text
    assert ApplicationStore(db_of(kiosk)).get(app.id).state == State.PRINTED
    # The queue was never reached: only the print that happened is in the log.
    assert [e["result"] for e in xlog.entries(db_of(kiosk), app.id) if e["purpose"] == "print"] == ["ok"]


def test_a_job_that_reached_the_queue_and_failed_is_logged_as_the_counter_logs_it(kiosk, monkeypatch):
    from hardware.printer import PrinterError

    class OutOfPaper:
        name = "front"

        def print_pdf(self, pdf, title):
            raise PrinterError("job 7 cancelled", "out_of_paper", queue="front", job_id=7)
    real = kiosk.hub.devices.printer
    monkeypatch.setattr(kiosk.hub.devices, "printer", OutOfPaper)
    v = a_print_that_fails(kiosk)
    assert (v.print.state, v.print.error) == ("failed", "out_of_paper")
    db = db_of(kiosk)
    assert ApplicationStore(db).get(v.application_id).state == State.SUBMITTED
    [failed] = [e for e in xlog.entries(db, v.application_id) if e["purpose"] == "print"]
    assert (failed["actor"], failed["counterparty"], failed["result"]) == ("kiosk:kiosk-1", "printer:front",
                                                                           "error:out_of_paper")
    monkeypatch.setattr(kiosk.hub.devices, "printer", real)
    kiosk.print_and_wait()
    assert "Your forms are printed" in kiosk.text
    assert [(e["counterparty"], e["result"]) for e in xlog.entries(db, v.application_id) if e["purpose"] == "print"] \
        == [("printer:front", "error:out_of_paper"), ("printer:pdf-folder", "ok")]


def test_forms_printed_but_not_recorded_offer_no_retry_and_never_print_twice(kiosk, tmp_path, monkeypatch, caplog):
    import sqlite3
    save = ApplicationStore.save

    def printed_cannot_be_saved(store, app):
        if app.state == State.PRINTED:
            raise sqlite3.OperationalError("database is locked")
        return save(store, app)
    monkeypatch.setattr(ApplicationStore, "save", printed_cannot_be_saved)
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    r = kiosk.print_and_wait()
    v = kiosk.visit()
    assert r.status_code == 200 and (v.print.state, v.print.error, v.print.retryable) == (
        "failed", "printed_not_recorded", False)
    assert "Try again" not in kiosk.text and "Staff will print your forms" in kiosk.text   # ask staff
    assert len(list((tmp_path / "var" / "printed").glob("*.pdf"))) == 1
    assert [r.levelname for r in caplog.records if "could not be recorded" in r.getMessage()] == ["ERROR"]
    assert "山田" not in caplog.text
    # A "print" posted anyway (a second touch, any client) sends nothing to the printer.
    kiosk.post("/kiosk/print")
    time.sleep(0.3)
    assert kiosk.visit().print.error == "printed_not_recorded"
    assert len(list((tmp_path / "var" / "printed").glob("*.pdf"))) == 1
    assert ApplicationStore(db_of(kiosk)).get(v.application_id).state == State.SUBMITTED


# --- QR path ---------------------------------------------------------------------------------

PREREG = {"procedures": ["juminhyo"], "name": "髙橋　𠮷子", "kana": "タカハシ　ヨシコ", "birth_date": "1952-01-15",
          "sex": "female", "postal_code": "1000001", "address": "東京都千代田区千代田２－３", "phone": "090-1111-2222",
          "juminhyo_scope": "self", "juminhyo_copies": 1}


@pytest.fixture
def prereg_token(kiosk):
    from core import sealed
    db = db_of(kiosk)
    return sealed.store(db, PREREG, days=30)


def test_qr_from_a_handheld_reader_opens_the_pre_registration(kiosk, prereg_token):
    kiosk.start("ko")
    kiosk.get("/kiosk/qr")
    r = kiosk.post("/kiosk/qr", {"code": prereg_token.token})
    assert r.location == "/kiosk/confirm"        # complete: nothing to ask again
    kiosk.get("/kiosk/confirm")
    page = kiosk.text
    assert "髙橋　𠮷子" in page and "사전 신청에서" in page          # marked as from the pre-registration
    v = kiosk.visit()
    assert v.application_id == prereg_token.app_id and set(v.sources.values()) == {"qr"}
    [entry] = list(xlog.entries(db_of(kiosk)))
    assert entry["purpose"] == "prereg_fetch" and entry["application_id"] == prereg_token.app_id
    kiosk.print_and_wait()
    app = ApplicationStore(db_of(kiosk)).get(prereg_token.app_id)
    assert app.state == State.PRINTED and app.sources["name"] == "qr"
    # The same QR again: its forms are printed already.
    kiosk.post("/kiosk/end")
    kiosk.start("en")
    kiosk.post("/kiosk/qr", {"code": prereg_token.token})
    kiosk.get("/kiosk/qr")
    assert "already been printed" in kiosk.text


def test_the_status_url_in_the_qr_opens_the_pre_registration_and_its_page_follows_the_print(kiosk, prereg_token):
    """The prereg QR holds its status page's URL (any host: the token's check decides)."""
    from core import progress
    from core.tokens import decode_token
    kiosk.start("en")
    kiosk.get("/kiosk/qr")
    r = kiosk.post("/kiosk/qr", {"code": f"HTTPS://CITY.EXAMPLE/S/{prereg_token.token}"})
    assert r.location == "/kiosk/confirm"
    kiosk.print_and_wait()
    db = db_of(kiosk)
    progress.deliver_pending(db, kiosk.config)
    app_id, key = decode_token(prereg_token.token)
    found = progress.progress_of(db, app_id, progress.prereg_status_key(key, app_id))
    assert [s.step for s in found.steps] == ["received", "printed"]


@pytest.mark.parametrize("code, words", [
    ("MDGP1:NOT-A-TOKEN", "is not a pre-registration"),
    ("MDGF1:0123456789ABCDEF", "QR code of a printed form"),
    ("hello", "is not a pre-registration"),
])
def test_a_wrong_qr_is_explained(kiosk, code, words):
    kiosk.start("en")
    kiosk.get("/kiosk/qr")
    kiosk.post("/kiosk/qr", {"code": code})
    kiosk.get("/kiosk/qr")
    assert words in kiosk.text
    assert kiosk.visit().values == {}


def test_a_forged_key_does_not_open_it(kiosk, prereg_token):
    from core.tokens import decode_token, encode_token
    app_id, key = decode_token(prereg_token.token)
    forged = encode_token(app_id, bytes(16))
    kiosk.start("en")
    kiosk.post("/kiosk/qr", {"code": forged})
    kiosk.get("/kiosk/qr")
    assert "This code does not open the pre-registration" in kiosk.text
    assert list(xlog.entries(db_of(kiosk))) == []


def test_a_code_seen_by_the_camera_opens_it_and_moves_the_page(kiosk, prereg_token):
    kiosk.start("en")
    kiosk.get("/kiosk/qr")
    seq = kiosk.hub.seq
    stop = kiosk.hub.start_services()
    try:
        kiosk.hub.scanner.inject(prereg_token.token)
        body = kiosk.get(f"/kiosk/events?since={seq}&wait=5").get_json()
        for _ in range(20):
            if any(e["type"] == "navigate" for e in body["events"]):
                break
            body = kiosk.get(f"/kiosk/events?since={body['seq']}&wait=2").get_json()
    finally:
        stop()
    assert {"type": "navigate", "url": "/kiosk/confirm"} in body["events"]
    assert kiosk.visit().values["name"] == "髙橋\u3000𠮷子"


# --- privacy ---------------------------------------------------------------------------------

def test_an_idle_visit_is_wiped_on_the_server(kiosk_app):
    kiosk = Kiosk(kiosk_app(devices={"emulator_persona": ""},
                            kiosk={"idle_seconds": 1, "idle_warning_seconds": 1}))
    kiosk.hub.visits.idle_limit = 2.5    # idle + warning + a short grace for the test
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    assert kiosk.visit() is not None
    time.sleep(3)
    r = kiosk.get("/kiosk/confirm")
    assert r.location == "/kiosk/?notice=idle_timeout"
    kiosk.get(r.location)
    assert "しばらく操作がなかったため" in kiosk.text


def test_pages_are_not_kept_and_forms_not_autofilled(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    for path in ("/kiosk/next", "/kiosk/ask/kana", "/kiosk/confirm"):
        r = kiosk.get(path, follow=True)
        assert r.headers["Cache-Control"].startswith("no-store")
        assert csp_safe(kiosk.text) == [], path
        for form in kiosk.text.split("<form")[1:]:
            assert 'autocomplete="off"' in form.split(">")[0] or "k-inline" in form.split(">")[0] or \
                'action="/kiosk/end"' in form.split(">")[0], form[:120]
    with kiosk.client.session_transaction() as s:
        assert set(s.keys()) <= {"kiosk_visit", "_csrf"}          # no personal data in the cookie


def test_cancel_on_the_pin_pad_wipes_and_sends_no_pin(kiosk):
    kiosk.start("en")
    kiosk.insert("mynumber_yamada")
    kiosk.get("/kiosk/card/pin")
    r = kiosk.post("/kiosk/card/pin", {"action": "cancel", "pin": ""})
    assert r.location == "/kiosk/?notice=cancelled"
    assert kiosk.card_tries() == 3


def test_clerk_assisted_mode_asks_the_visitor_to_type_the_pin(kiosk_app):
    kiosk = Kiosk(kiosk_app(devices={"emulator_persona": ""}, kiosk={"mode": "clerk-assisted"}))
    kiosk.start("ja")
    kiosk.insert("mynumber_yamada")
    kiosk.get("/kiosk/card/pin")
    assert "お客様が暗証番号を入力してください" in kiosk.text
    assert "clerk-assisted" in kiosk.text


def test_camera_hints_reach_the_qr_screen_only(kiosk):
    kiosk.start("en")
    seq = kiosk.hub.seq
    kiosk.hub.on_scanner_event({"type": "hint", "hint": "closer"})          # on the start screen: nothing
    kiosk.get("/kiosk/qr")
    assert 'data-hint="closer"' in kiosk.text and "Move your phone a little closer." in kiosk.text
    kiosk.hub.on_scanner_event({"type": "hint", "hint": "closer"})
    kiosk.hub.on_scanner_event({"type": "camera", "state": "lost"})
    events = kiosk.get(f"/kiosk/events?since={seq}").get_json()["events"]
    assert events == [{"type": "hint", "hint": "closer"}, {"type": "camera", "state": "lost"}]


def test_a_scanned_code_never_replaces_a_visit_in_progress(kiosk, prereg_token):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    before = dict(kiosk.visit().values)
    kiosk.hub.on_scanner_event({"type": "code", "text": prereg_token.token})
    time.sleep(0.3)
    assert kiosk.visit().values == before and kiosk.visit().path == "card"
    assert [e["purpose"] for e in xlog.entries(db_of(kiosk))] == ["card_read"]


def test_a_card_left_on_the_reader_is_pointed_out_to_the_next_visitor(kiosk):
    stop = kiosk.hub.start_services()
    try:
        kiosk.start("en")
        assert "data-card-left" not in kiosk.text
        kiosk.insert("mynumber_yamada")
        deadline = time.monotonic() + 5
        while not kiosk.hub.card_present and time.monotonic() < deadline:
            time.sleep(0.02)
        kiosk.get("/kiosk/?lang=en")
        assert "A card is on the reader." in kiosk.text
    finally:
        stop()


def test_a_moved_licence_holder_reaches_the_clerk_with_both_addresses(kiosk):
    """The licence's later address is the current one; the clerk also sees the one at issue."""
    import counter.blueprint  # noqa: F401 — the views load through their blueprint, as in the app
    from counter.views import licence_addresses
    kiosk.start("en")
    kiosk.read_card("licence_watanabe_moved", "1111")
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    app_id = kiosk.visit().application_id
    kiosk.print_and_wait()
    store = ApplicationStore(db_of(kiosk))
    app = store.get(app_id)
    shown = licence_addresses(app, store.events(app_id))
    assert shown["moved"] and app.sources["address"] == "licence"
    assert shown["current"] == app.data["address"] == "東京都世田谷区世田谷４丁目２１－２７"
    assert shown["at_issue"] == "神奈川県横浜市中区日本大通１"


def test_kiosks_of_two_offices_with_one_prefix_each_count_their_own_numbers(kiosk_app):
    honcho = Kiosk(kiosk_app(devices={"emulator_persona": ""}))
    minami = Kiosk(kiosk_app(devices={"emulator_persona": ""}, kiosk={"kiosk_id": "kiosk-2", "office": "minami"}))

    def printed(kiosk: Kiosk) -> str | None:
        return ApplicationStore(db_of(kiosk)).get(printed_visit(kiosk)).reception_number

    assert [printed(honcho), printed(minami), printed(honcho)] == ["A-001", "A-001", "A-002"]
