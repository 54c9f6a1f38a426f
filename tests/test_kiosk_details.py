"""What trying the kiosk found (issue 14): keyboards by field, the card's data used fully (the
card's address offered as the 前住所, no sex invented for a licence, an expired card flagged),
the demo panel, and a start screen that speaks of a card only when one was left behind."""
from __future__ import annotations

import re
import time

from core.catalogue import get_catalogue
from kiosk.labels import keyboard_for


def test_each_question_opens_the_keyboard_its_answer_needs():
    cat = get_catalogue()
    assert keyboard_for(cat.field("inkan_card_number")) == "digits"        # the 印鑑登録証's number
    assert keyboard_for(cat.field("previous_resident_code")) == "digits"   # from its pattern's example
    assert keyboard_for(cat.field("residence_card_number")) == "latin"
    assert keyboard_for(cat.field("kana")) == "kana" and keyboard_for(cat.field("postal_code")) == "digits"
    assert keyboard_for(cat.field("hittousha")) == "text"


def test_the_card_number_question_shows_the_number_pad(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["inkan_shomei"])
    kiosk.get("/kiosk/ask/inkan_card_number")
    assert 'data-keyboard="digits"' in kiosk.text and 'data-layout="kana"' not in kiosk.text


def test_a_moving_in_visitor_is_offered_the_cards_address_as_the_previous_address(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    kiosk.visit().values["move_type"] = "tennyu"
    kiosk.get("/kiosk/ask/previous_address")
    assert 'value="東京都千代田区霞が関２丁目１－２"' in kiosk.text        # the card's, to check
    kiosk.post("/kiosk/ask/previous_address", {"value": "北海道札幌市中央区北１条西２丁目"})
    assert kiosk.visit().values["previous_address"] == "北海道札幌市中央区北１条西２丁目"
    kiosk.get("/kiosk/ask/previous_address")
    assert "霞が関" not in kiosk.text                                      # the answer, not the offer


def test_a_licence_gives_no_sex_and_an_expired_one_is_flagged_to_the_visitor_and_the_clerk(kiosk):
    kiosk.start("en")
    kiosk.read_card("licence_watanabe_moved", "1111")     # valid until 2026-07-15
    v = kiosk.visit()
    assert "sex" not in v.card.fields and "sex" not in v.values and v.card.expired
    kiosk.get("/kiosk/purpose")
    assert "data-card-expired" in kiosk.text and "period of validity ended" in kiosk.text
    kiosk.choose("certificates", ["juminhyo"])
    asked = kiosk.answer_all({"sex": {"value": "female"}})
    assert "sex" in asked                                   # asked, not "prefer not to say"
    assert "data-card-expired" in kiosk.text                # the confirm page
    from kiosk.flow import licence_addresses
    assert licence_addresses(v.card)["expired"] is True


def test_a_valid_my_number_card_is_not_flagged(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.get("/kiosk/purpose")
    assert "data-card-expired" not in kiosk.text


def test_the_demo_panel_shows_each_cards_pin_and_resets_their_tries(kiosk):
    kiosk.start("en")
    assert re.search(r'value="mynumber_yamada">mynumber_yamada <span class="k-demo-pin">PIN 1234', kiosk.text)
    assert "licence_watanabe_moved <span class=\"k-demo-pin\">PIN 1111" in kiosk.text
    kiosk.insert("mynumber_yamada")
    kiosk.get("/kiosk/card")
    kiosk.get("/kiosk/card/pin")
    kiosk.post("/kiosk/card/pin", {"pin": "9999"})
    assert kiosk.card_tries() == 2
    kiosk.post("/kiosk/emulator/card", {"action": "reset", "next": "/kiosk/"})
    assert kiosk.reader().slot.card is None                          # off the reader, as new
    kiosk.insert("mynumber_yamada")
    assert kiosk.card_tries() == 3


def test_take_the_card_and_finish_takes_the_emulated_card_off_the_reader(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    kiosk.print_and_wait()
    kiosk.get("/kiosk/done")
    assert "Take the card and finish" in kiosk.text
    kiosk.post("/kiosk/end", {"take_card": "yes"})
    assert kiosk.reader().slot.card is None
    kiosk.get("/kiosk/?lang=en")
    assert "data-card-left" not in kiosk.text


def test_the_start_screen_speaks_of_a_card_only_when_a_visitor_left_one(kiosk):
    stop = kiosk.hub.start_services()
    try:
        kiosk.insert("mynumber_yamada")                    # there before anyone used the kiosk
        deadline = time.monotonic() + 5
        while not kiosk.hub.card_present and time.monotonic() < deadline:
            time.sleep(0.02)
        kiosk.start("en")
        assert "data-card-left" not in kiosk.text
        kiosk.read_card()
        kiosk.post("/kiosk/end", {"reason": "cancelled"})     # the visitor goes, the card stays
        kiosk.get("/kiosk/?lang=en")
        assert "A card is on the reader." in kiosk.text
        kiosk.remove()
        deadline = time.monotonic() + 5
        while kiosk.hub.card_present and time.monotonic() < deadline:
            time.sleep(0.02)
        kiosk.get("/kiosk/?lang=en")
        assert "data-card-left" not in kiosk.text
    finally:
        stop()


def test_without_a_camera_the_qr_screen_speaks_of_the_reader_only(kiosk):
    kiosk.start("en")
    kiosk.get("/kiosk/qr")
    assert "camera" not in kiosk.text.lower().split("<main", 1)[1]
    assert "QR code reader" in kiosk.text
