"""One layer reads typed answers (core.answers) and one checks values (core.forms): the
prereg wizard, the kiosk, the counter's correction form and the JSON API accept and refuse
the same things, with the same words from the one message table (web.messages)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core import answers
from core.catalogue import get_catalogue
from core.clock import today_in_japan
from core.errors import ValidationError
from core.forms import parse_application
from core.store.applications import ApplicationStore
from tests.fixtures_counter import kiosk_application, post, text_of
from tests.prereg_helpers import date_parts

EMOJI_NAME = "山田\u3000太郎😀"
TOMORROW = today_in_japan() + timedelta(days=1)


@pytest.fixture(scope="module")
def cat():
    return get_catalogue()


def read(cat, name, **typed):
    return answers.read(cat.field(name), typed, cat)


def codes(ans):
    return [e.code for e in ans.errors]


# --- dates -----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, iso", [
    ({"era": "western", "year": "1985", "month": "4", "day": "1"}, "1985-04-01"),
    ({"era": "western", "year": "１９８５", "month": "０４", "day": "１"}, "1985-04-01"),
    ({"era": "reiwa", "year": "元", "month": "5", "day": "1"}, "2019-05-01"),
    ({"era": "heisei", "year": "元年", "month": "1", "day": "8"}, "1989-01-08"),
    ({"era": "showa", "year": "64", "month": "1", "day": "7"}, "1989-01-07"),
    ({"era": "taisho", "year": "15", "month": "12", "day": "24"}, "1926-12-24"),
    ({"era": "meiji", "year": "45", "month": "7", "day": "29"}, "1912-07-29"),
    ({"era": "meiji", "year": "元", "month": "10", "day": "23"}, "1868-10-23"),
    ({"value": "1985-04-01"}, "1985-04-01"),
    ({"value": "昭和60年4月1日"}, "1985-04-01"),
    ({"value": "令和元年5月1日"}, "2019-05-01"),
    ({"value": "明治45年7月29日"}, "1912-07-29"),
    ({"value": "R1.5.1"}, "2019-05-01"),
    ({"value": "１９８５年４月１日"}, "1985-04-01"),
])
def test_dates_in_every_calendar_and_both_forms_of_input(cat, typed, iso):
    ans = read(cat, "birth_date", **typed)
    assert ans.ok and ans.value == iso


@pytest.mark.parametrize("typed, code", [
    ({"era": "showa", "year": "65", "month": "1", "day": "1"}, "not_in_era"),
    ({"era": "heisei", "year": "1", "month": "1", "day": "7"}, "not_in_era"),
    ({"era": "western", "year": "2001", "month": "2", "day": "29"}, "bad_date"),
    ({"era": "western", "year": "1985", "month": "", "day": "1"}, "date_incomplete"),
    ({"era": "western", "year": "①⑨⑧⑤", "month": "4", "day": "1"}, "bad_date"),
    ({"era": "showa", "year": "²", "month": "1", "day": "1"}, "bad_date"),
    ({"era": "western", "year": "᧚", "month": "1", "day": "1"}, "bad_date"),
    ({"era": "kamakura", "year": "1", "month": "1", "day": "1"}, "bad_date"),
    ({"value": "昭和65年1月1日"}, "not_in_era"),
    ({"value": "①985-04-01"}, "bad_date"),
    ({"value": "tomorrow"}, "bad_date"),
    ({"value": "1850-01-01"}, "date_out_of_range"),
])
def test_impossible_dates_are_coded(cat, typed, code):
    assert codes(read(cat, "birth_date", **typed)) == [code]


def test_a_birth_date_after_today_is_refused_but_a_move_date_may_be_ahead(cat):
    assert codes(read(cat, "birth_date", value=TOMORROW.isoformat())) == ["date_in_future"]
    assert read(cat, "birth_date", value=today_in_japan().isoformat()).ok
    assert read(cat, "move_date", value=TOMORROW.isoformat()).value == TOMORROW.isoformat()
    # the JSON form refuses it too, for the person and for a household member
    form = {"procedures": ["juminido"], "birth_date": TOMORROW.isoformat(),
            "household": [{"name": "山田\u3000花子", "birth_date": TOMORROW.isoformat()}]}
    with pytest.raises(ValidationError) as e:
        parse_application(form, cat, complete=False)
    assert {(x.field, x.code) for x in e.value.errors} == {("birth_date", "date_in_future"),
                                                           ("household[0].birth_date", "date_in_future")}


# --- numbers, postal codes, kana, choices --------------------------------------------------

def test_numbers_take_ascii_and_full_width_digits_only(cat):
    assert read(cat, "juminhyo_copies", value="２").value == 2
    assert read(cat, "juminhyo_copies", value=" 3 ").value == 3
    for bad in ("②", "²", "᧚", "2.0", "two", "99999999999999999999"):
        assert codes(read(cat, "juminhyo_copies", value=bad)) == ["not_number"], bad
    assert codes(read(cat, "juminhyo_copies", value="0")) == ["out_of_range"]


def test_postal_codes_take_ascii_and_full_width_digits_only(cat):
    assert read(cat, "postal_code", value="１００－０００１").value == "1000001"
    assert read(cat, "postal_code", value="100-0001").value == "1000001"
    assert codes(read(cat, "postal_code", value="①００-０００１")) == ["bad_postal_code"]
    assert codes(read(cat, "postal_code", value="12-34")) == ["bad_postal_code"]


def test_kana_is_read_in_hiragana_or_katakana_and_stored_in_katakana(cat):
    assert read(cat, "kana", value="やまだ　たろう").value == "ヤマダ\u3000タロウ"
    assert codes(read(cat, "kana", value="Yamada")) == ["not_kana"]


def test_choices_checkboxes_and_required(cat):
    assert read(cat, "sex", value="female").value == "female"
    assert codes(read(cat, "sex", value="other")) == ["bad_choice"]
    assert codes(read(cat, "name", value="  ")) == ["required"]
    assert answers.read(cat.field("name"), {"value": ""}, cat, required=False).ok


def test_an_address_in_two_parts_is_joined(cat):
    ans = read(cat, "address", town="東京都千代田区千代田", rest="１－１")
    assert ans.value == "東京都千代田区千代田１－１" and ans.parts == ["東京都千代田区千代田", "１－１"]


def test_a_member_is_read_with_its_birth_date_as_parts_or_as_text(cat):
    by_parts = answers.read_member({"name": "山田 花子", "birth_era": "showa", "birth_year": "６２",
                                    "birth_month": "9", "birth_day": "12", "relationship": "spouse"}, cat)
    by_text = answers.read_member({"name": "山田 花子", "birth_date": "昭和62年9月12日", "relationship": "spouse"}, cat)
    assert by_parts.value == by_text.value == {"name": "山田\u3000花子", "birth_date": "1987-09-12",
                                               "relationship": "spouse"}
    bad = answers.read_member({"name": EMOJI_NAME, "birth_date": TOMORROW.isoformat(), "relationship": "cat"}, cat,
                              path="household[3]")
    assert {(e.field, e.code) for e in bad.errors} == {("household[3].name", "unprintable_character"),
                                                       ("household[3].birth_date", "date_in_future")}


# --- printable characters --------------------------------------------------------------------

@pytest.mark.parametrize("text", ["髙橋\u3000﨑子", "𠮷野\u3000家", "Nguyễn Văn An", "葛\U000E0102飾\u3000辻\U000E0103",
                                  "斎藤\u3000一"])
def test_names_the_fonts_can_print_are_accepted(cat, text):
    assert read(cat, "name", value=text).ok, text


@pytest.mark.parametrize("text, character", [(EMOJI_NAME, "😀"), ("葛\U000E0100城", "葛\U000E0100"),
                                             ("山田\u3000\ue000子", "\ue000"), ("山田\u3000太郎\u0378", "\u0378")])
def test_a_character_no_print_font_has_is_refused_naming_it(cat, text, character):
    ans = read(cat, "name", value=text)
    assert codes(ans) == ["unprintable_character"] and ans.errors[0].params["character"] == character
    assert text not in ans.errors[0].message   # the value stays out of messages (and so of logs)


def test_the_prereg_api_refuses_an_unprintable_name(client):
    r = client.post("/prereg/api/v1/applications", json={"procedures": ["juminhyo"], "name": EMOJI_NAME})
    assert r.status_code in (400, 422)
    body = r.get_json()
    problems = {e["field"]: e for e in body["errors"]}
    assert problems["name"]["code"] == "unprintable_character" and "😀" in problems["name"]["message"]


# --- the same answer on every surface ------------------------------------------------------

def test_prereg_refuses_the_emoji_name_and_a_future_birth_date_with_the_tables_words(walker):
    walker.get("/prereg/event?lang=en")
    walker.post({"event": "certificates"})
    walker.post({"procedures": ["juminhyo"]})
    walker.post({"name": EMOJI_NAME}, expect=400)
    assert ("Full name has a character that cannot be printed on the form (😀)."
            " Write it another way, for example in kana") in walker.page
    walker.post({"name": "山田\u3000太郎"})
    walker.post({"kana": "ヤマダ\u3000タロウ"})
    walker.post(date_parts("birth_date", TOMORROW.year, TOMORROW.month, TOMORROW.day), expect=400)
    assert "Date of birth must not be after today" in walker.page
    walker.post(date_parts("birth_date", "元", 5, 1, era="reiwa"))
    assert walker.at() != "/prereg/q/birth_date"


def test_the_kiosk_refuses_them_too(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    r = kiosk.post("/kiosk/ask/household/member", {"name": EMOJI_NAME, "birth_era": "western",
                                                   "birth_year": str(TOMORROW.year),
                                                   "birth_month": str(TOMORROW.month),
                                                   "birth_day": str(TOMORROW.day), "relationship": "child"})
    assert r.status_code == 400
    assert "Full name has a character that cannot be printed on the form (😀)." in kiosk.text
    assert "Date of birth must not be after today" in kiosk.text
    assert not kiosk.visit().values.get("household")
    r = kiosk.post("/kiosk/ask/household/member", {"name": "山田\u3000花子", "birth_era": "reiwa", "birth_year": "元",
                                                   "birth_month": "5", "birth_day": "1", "relationship": "child"})
    assert r.status_code == 302
    assert kiosk.visit().values["household"][0]["birth_date"] == "2019-05-01"


def test_the_counter_refuses_them_too(clerk_client, db):
    app = kiosk_application(db)
    url = f"/counter/applications/{app.id}/fields/"
    r = post(clerk_client, url + "name?lang=en", {"value": EMOJI_NAME, "reason": "typo", "version": app.version})
    assert r.status_code == 400
    assert "Full name has a character that cannot be printed on the form (😀)." in text_of(r)
    r = post(clerk_client, url + "birth_date?lang=en", {"value": TOMORROW.isoformat(), "reason": "typo",
                                                        "version": app.version})
    assert r.status_code == 400 and "Date of birth must not be after today" in text_of(r)
    assert ApplicationStore(db).get(app.id).version == app.version   # nothing saved
    r = post(clerk_client, url + "birth_date?lang=en", {"value": "令和元年5月1日", "reason": "card misread",
                                                        "version": app.version})
    assert r.status_code == 302 and ApplicationStore(db).get(app.id).data["birth_date"] == "2019-05-01"


def test_the_words_come_from_one_table_in_every_language(app):
    """The kiosk and the counter show the same words for a code as prereg (no copies of the table)."""
    from core.errors import FieldError
    from counter.views import field_error_message, printer_error_message
    from kiosk.labels import field_message, message_for
    from web.messages import field_error, message
    err = FieldError("birth_date", "date_in_future", "x")
    for lang in ("ja", "en", "zh", "ko", "vi", "pt", "ja-easy"):
        with app.test_request_context(f"/?lang={lang}"):
            from flask import g
            g.lang = lang
            from flask_babel import refresh
            refresh()
            label = get_catalogue().field("birth_date").label_in(lang)
            assert field_message(err) == field_error_message(err) == field_error("date_in_future", label, "date")
            assert message_for("offline") == printer_error_message("offline") == message("offline")
            assert message("no_such_code") == message("error")


def test_a_move_in_date_may_not_be_ahead_but_a_move_out_date_may(cat, kiosk):
    f = cat.field("move_date")
    ahead = {"value": TOMORROW.isoformat()}
    assert codes(answers.read(f, ahead, cat, values={"move_type": "tennyu"})) == ["date_in_future"]
    assert codes(answers.read(f, ahead, cat, values={"move_type": "tenkyo"})) == ["date_in_future"]
    assert answers.read(f, ahead, cat, values={"move_type": "tenshutsu"}).value == TOMORROW.isoformat()
    with pytest.raises(ValidationError) as e:
        parse_application({"procedures": ["juminido"], "move_type": "tennyu", "move_date": TOMORROW.isoformat()},
                          cat, complete=False)
    assert [(x.field, x.code) for x in e.value.errors] == [("move_date", "date_in_future")]
    assert parse_application({"procedures": ["juminido"], "move_type": "tenshutsu",
                              "move_date": TOMORROW.isoformat()}, cat, complete=False)[1]["move_date"]
    # at the kiosk, where moving_in presets 転入
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    r = kiosk.post("/kiosk/ask/move_date", {"era": "western", "year": str(TOMORROW.year),
                                            "month": str(TOMORROW.month), "day": str(TOMORROW.day)})
    assert r.status_code == 400 and "Date of move must not be after today" in kiosk.text


def test_prereg_refuses_a_move_in_date_ahead(walker):
    from tests.prereg_helpers import answer_guide
    walker.get("/prereg/event?lang=en")
    walker.post({"event": "moving_in"})          # presets 転入
    answer_guide(walker)
    walker.post({"procedures": ["juminido"]})
    walker.get("/prereg/q/move_date")
    walker.post(date_parts("move_date", TOMORROW.year, TOMORROW.month, TOMORROW.day), expect=400)
    assert "Date of move must not be after today" in walker.page


def test_a_text_with_a_pattern_is_folded_checked_and_explained(cat, app):
    from core.catalogue import FieldDef
    card = FieldDef(name="residence_card_number", type="text",
                    label={"ja": "在留カード番号", "en": "Residence card number"},
                    pattern="^[A-Z]{2}[0-9]{8}[A-Z]{2}$", example="AB12345678CD", upper=True)
    assert answers.read(card, {"value": "ａｂ１２３４５６７８ｃｄ"}, cat).value == "AB12345678CD"
    assert answers.read(card, {"value": "ab 12345678 cd"}, cat).value == "AB12345678CD"
    bad = answers.read(card, {"value": "AB1234567CD"}, cat)
    assert codes(bad) == ["bad_format"] and bad.errors[0].params == {"example": "AB12345678CD"}
    with app.test_request_context("/?lang=en"):
        from flask import g
        from flask_babel import refresh

        from web.messages import field_error
        g.lang = "en"
        refresh()
        assert field_error("bad_format", "Residence card number", "text", bad.errors[0].params) == \
            "Enter residence card number in the form AB12345678CD"
