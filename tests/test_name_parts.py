"""Names asked as 姓・名 and セイ・メイ apart (a field's `parts`), stored as one string, on every
surface: the answer layer (core.answers), the prereg wizard, the kiosk and the counter."""
from __future__ import annotations

import re
from html import unescape

import pytest

from core import answers
from core.catalogue import CatalogueError, get_catalogue, load_catalogue
from core.japanese import split_name
from core.store.applications import ApplicationStore
from tests.fixtures_counter import CERTIFICATE, kiosk_application, post, text_of
from tests.prereg_helpers import date_parts

IDEO = "\u3000"


@pytest.fixture(scope="module")
def cat():
    return get_catalogue()


def read(cat, name, **typed):
    return answers.read(cat.field(name), typed, cat)


def errors(ans):
    return [(e.field, e.code, e.params.get("part")) for e in ans.errors]


def inputs(html: str) -> dict[str, str]:
    """name → value of the page's text inputs."""
    out = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and 'type="text"' in tag:
            out[name.group(1)] = unescape(value.group(1)) if value else ""
    return out


# --- the answer layer --------------------------------------------------------------------------

def test_the_catalogue_asks_name_and_kana_in_parts_with_labels_in_every_language(cat):
    for key, family, given in (("name", "姓", "名"), ("kana", "セイ", "メイ")):
        f = cat.field(key)
        assert f.parts == ("family", "given")
        assert (f.part_label("family", "ja"), f.part_label("given", "ja")) == (family, given)
        for part in f.parts:
            assert set(f.part_labels[part]) == {"ja", "en", "zh", "ko", "vi", "pt", "ja-easy"}
    assert cat.field("name").part_label("family", "en") == "Family name"


def test_the_parts_are_joined_by_the_names_own_space(cat):
    ans = read(cat, "name", family="山田", given="太郎")
    assert ans.ok and ans.value == f"山田{IDEO}太郎" and ans.parts == ["山田", "太郎"]
    latin = read(cat, "name", family="NGUYEN", given="VAN AN")   # a space inside a Latin part stays
    assert latin.value == "NGUYEN VAN AN" and latin.parts == ["NGUYEN", "VAN AN"]
    assert read(cat, "name", family="髙橋", given="𠮷子").value == f"髙橋{IDEO}𠮷子"


def test_one_value_is_still_accepted(cat):
    assert read(cat, "name", value="山田 太郎").value == f"山田{IDEO}太郎"
    assert read(cat, "kana", value="やまだ たろう").value == f"ヤマダ{IDEO}タロウ"


def test_the_family_name_is_required_the_given_name_is_not(cat):
    assert errors(read(cat, "name", family="", given="")) == [("name", "required", None)]
    assert errors(read(cat, "name", family=" ", given="太郎")) == [("name", "required", "family")]
    one = read(cat, "name", family="マドンナ", given="")
    assert one.ok and one.value == "マドンナ"
    optional = answers.read(cat.field("name"), {"family": "", "given": ""}, cat, required=False)
    assert optional.ok and optional.value is None
    # a given name alone is refused even where the name may be left empty
    assert errors(answers.read(cat.field("kana"), {"family": "", "given": "タロウ"}, cat, required=False)) == [
        ("kana", "required", "family")]


def test_kana_parts_are_checked_as_kana(cat):
    assert read(cat, "kana", family="やまだ", given="たろう").value == f"ヤマダ{IDEO}タロウ"
    assert read(cat, "kana", family="グエン", given="ヴァン アン").value == f"グエン{IDEO}ヴァン{IDEO}アン"
    assert errors(read(cat, "kana", family="Yamada", given="たろう")) == [("kana", "not_kana", None)]


def test_full_width_spaces_around_and_inside_the_parts(cat):
    assert read(cat, "name", family=f"{IDEO}山田{IDEO}", given=f"太郎{IDEO}").value == f"山田{IDEO}太郎"
    assert read(cat, "kana", family=f"ヤマダ{IDEO}", given=f"{IDEO}タロウ").value == f"ヤマダ{IDEO}タロウ"
    # the old habit of typing the whole name into 姓 stores what the card says
    assert read(cat, "name", family="山田 太郎", given="").value == f"山田{IDEO}太郎"


def test_the_whole_name_is_checked_and_errors_name_the_field(cat):
    bad = read(cat, "name", family="山田", given="太郎😀")
    assert errors(bad) == [("name", "unprintable_character", None)] and bad.errors[0].params["character"] == "😀"
    assert bad.raw == {"family": "山田", "given": "太郎😀"}   # shown again as typed
    assert errors(read(cat, "name", family="山" * 40, given="田" * 30)) == [("name", "too_long", None)]
    member = answers.read_member({"name__family": "山田", "name__given": "花子😀", "kana__family": "やまだ",
                                  "kana__given": "Hanako", "birth_date": "1987-09-12"}, cat, path="household[2]")
    assert {(e.field, e.code) for e in member.errors} == {("household[2].name", "unprintable_character"),
                                                          ("household[2].kana", "not_kana")}


def test_a_member_is_read_from_the_parts_or_from_one_value(cat):
    by_parts = answers.read_member({"name__family": "山田", "name__given": "花子", "kana__family": "やまだ",
                                    "kana__given": "はなこ", "birth_date": "1987-09-12", "sex": "female"}, cat)
    by_value = answers.read_member({"name": "山田 花子", "kana": "ヤマダ　ハナコ", "birth_date": "1987-09-12",
                                    "sex": "female"}, cat)
    assert by_parts.value == by_value.value == {"name": f"山田{IDEO}花子", "kana": f"ヤマダ{IDEO}ハナコ",
                                                "birth_date": "1987-09-12", "sex": "female"}
    assert by_parts.raw["name__given"] == "花子"
    missing = answers.read_member({"name__family": "", "name__given": "花子", "birth_date": "1987-09-12"}, cat)
    assert [(e.field, e.code, e.params.get("part")) for e in missing.errors] == [
        ("household[0].name", "required", "family")]


@pytest.mark.parametrize("text, parts", [
    (f"山田{IDEO}太郎", ("山田", "太郎")),
    ("山田 太郎", ("山田", "太郎")),
    (f" 山田{IDEO}{IDEO}太郎 ", ("山田", "太郎")),
    ("NGUYEN Van An", ("NGUYEN", "Van An")), (f"グエン{IDEO}ヴァン{IDEO}アン", ("グエン", f"ヴァン{IDEO}アン")),
    ("マドンナ", ("マドンナ", "")), ("", ("", "")), (None, ("", "")),
])
def test_a_stored_or_card_name_splits_at_its_first_space(text, parts):
    assert split_name(text) == parts


def test_a_name_shown_again_keeps_the_parts_as_typed_while_they_still_make_the_value(cat):
    name = cat.field("name")
    typed = ["VAN DER BERG", "ANNA"]
    assert answers.shown_name_parts(name, "VAN DER BERG ANNA", typed) == {"family": "VAN DER BERG", "given": "ANNA"}
    # the value changed since (a card read): its own split
    assert answers.shown_name_parts(name, f"山田{IDEO}太郎", typed) == {"family": "山田", "given": "太郎"}
    assert answers.shown_name_parts(cat.field("kana"), f"ヤマダ{IDEO}タロウ", ["やまだ", "たろう"]) == {
        "family": "やまだ", "given": "たろう"}
    assert answers.shown_name_parts(name, None) == {"family": "", "given": ""}


def test_a_city_catalogue_with_parts_in_the_wrong_place_is_refused(tmp_path):
    base = ('id = "city_name_parts"\nnames = { ja = "x" }\nform_title = { ja = "x" }\ndescription = { ja = "x" }\n'
            'section = { ja = "x" }\nperson_fields = ["name"]\n[[fields]]\nname = "city_field"\n')
    labels = '[fields.part_labels]\nfamily = { ja = "姓" }\ngiven = { ja = "名" }\n'
    cases = {
        'type = "number"\nparts = ["family", "given"]\n' + labels: "only a text or kana field",
        'type = "text"\nparts = ["given", "family"]\n' + labels: "`parts` must be",
        'type = "text"\nparts = ["family", "given"]\n': "`part_labels` needs a label",
        'type = "text"\n' + labels: "`part_labels` without `parts`",
    }
    for body, message in cases.items():
        (tmp_path / "city_name_parts.toml").write_text(base + body, "utf-8")
        with pytest.raises(CatalogueError, match=re.escape(message)):
            load_catalogue([tmp_path])
    (tmp_path / "city_name_parts.toml").write_text(base + 'type = "text"\nparts = ["family", "given"]\n' + labels,
                                                   "utf-8")
    f = load_catalogue([tmp_path]).field("city_field")
    assert answers.read(f, {"family": "佐藤", "given": "一"}, get_catalogue()).value == f"佐藤{IDEO}一"


def test_the_family_names_message_says_family_name(app):
    from flask import g
    from flask_babel import refresh

    from core.errors import FieldError
    from web.messages import field_error_for
    with app.test_request_context("/?lang=en"):
        g.lang = "en"
        refresh()
        assert field_error_for(FieldError("name", "required", "x", part="family"), get_catalogue()) == \
            "Enter family name"
        assert field_error_for(FieldError("household[1].kana", "required", "x", part="family"),
                               get_catalogue()) == "Enter family name (katakana)"
        assert field_error_for(FieldError("name", "required", "x"), get_catalogue()) == "Enter full name"


# --- prereg --------------------------------------------------------------------------------------

def test_prereg_asks_the_parts_and_stores_the_joined_name(walker, db, config):
    from core import sealed
    from prereg.views import DONE
    from tests.prereg_helpers import answer_all
    from tests.test_prereg_flow import CERT_ANSWERS, start
    start(walker)
    page = walker.get("/prereg/q/name")
    assert 'name="name__family"' in page and 'autocomplete="family-name"' in page
    assert 'name="name__given"' in page and 'autocomplete="given-name"' in page
    assert page.count("※必須") == 1 and '<label class="label" for="f-name">姓' in page
    walker.post({"name__family": "", "name__given": "太郎"}, expect=400)
    assert 'href="#f-name"' in walker.page and "姓を入力してください" in walker.page
    assert inputs(walker.page)["name__given"] == "太郎"
    walker.post({"name__family": "VAN DER BERG", "name__given": "ANNA"})
    assert walker.at() == "/prereg/q/kana"
    assert inputs(walker.get("/prereg/q/name"))["name__family"] == "VAN DER BERG"   # as typed, not re-split
    walker.post({"name__family": "髙橋", "name__given": "𠮷子"})
    page = walker.get("/prereg/q/kana")
    assert 'name="kana__family"' in page and "セイ" in page and "メイ" in page
    walker.post({"kana__family": "たかはし", "kana__given": "よしこ"})
    answer_all(walker, CERT_ANSWERS)
    assert f"髙橋{IDEO}𠮷子" in walker.page and f"タカハシ{IDEO}ヨシコ" in walker.page   # the check page
    walker.post({})
    with walker.client.session_transaction() as s:
        token = s[DONE]["token"]
    _, envelope = sealed.open_prereg_envelope(config, token, db)
    assert envelope.form["name"] == f"髙橋{IDEO}𠮷子" and envelope.form["kana"] == f"タカハシ{IDEO}ヨシコ"


def test_prereg_household_members_give_their_name_in_parts(walker):
    from tests.test_prereg_flow import CERT_ANSWERS, start
    start(walker, "moving_within", ("juminido",))
    for _ in range(12):
        if walker.at().endswith("/q/household"):
            break
        walker.post(CERT_ANSWERS[walker.at().rsplit("/", 1)[-1]])
    walker.post({"add": "yes"})
    page = walker.page
    assert 'name="m_name__family"' in page and 'name="m_kana__given"' in page and "family-name" not in page
    person = {"m_name__family": "同居", "m_name__given": "", "m_kana__family": "どうきょ", "m_kana__given": "",
              **date_parts("m_birth_date", 2010, 5, 5), "m_sex": "female", "m_relationship": "child"}
    walker.post({**person, "m_name__family": ""}, expect=400)
    assert 'href="#f-m_name"' in walker.page and "氏名を入力してください" in walker.page
    walker.post(dict(person, m_name__given="一子", m_kana__given="いちこ"))
    assert walker.at() == "/prereg/q/household" and f"同居{IDEO}一子" in walker.page
    shown = inputs(walker.get("/prereg/household/0"))
    assert [shown[k] for k in ("m_name__family", "m_name__given", "m_kana__family", "m_kana__given")] == [
        "同居", "一子", "ドウキョ", "イチコ"]


# --- kiosk ---------------------------------------------------------------------------------------

def test_the_kiosk_shows_the_card_name_in_parts_and_stores_the_typed_parts(kiosk):
    kiosk.start("ja")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all({"kana": {"family": "やまだ", "given": "たろう"}})
    assert kiosk.visit().values["kana"] == f"ヤマダ{IDEO}タロウ"
    kiosk.get("/kiosk/ask/name?back=confirm")
    shown = inputs(kiosk.text)
    assert (shown["family"], shown["given"]) == ("山田", "太郎")            # the card's 山田　太郎, split
    assert 'id="f-name"' in kiosk.text and 'id="f-name-given"' in kiosk.text
    assert kiosk.text.count('data-keyboard-target="text"') == 2 and 'data-keyboard="text"' in kiosk.text
    r = kiosk.post("/kiosk/ask/name?back=confirm", {"family": "", "given": "太朗"})
    assert r.status_code == 400 and 'href="#f-name"' in kiosk.text and inputs(kiosk.text)["given"] == "太朗"
    r = kiosk.post("/kiosk/ask/name?back=confirm", {"family": "山田", "given": "太朗"})
    assert r.location == "/kiosk/confirm"
    app_id = kiosk.visit().application_id
    kiosk.print_and_wait()
    from tests.test_kiosk import db_of
    app = ApplicationStore(db_of(kiosk)).get(app_id)
    assert app.data["name"] == f"山田{IDEO}太朗" and app.data["kana"] == f"ヤマダ{IDEO}タロウ"


def test_kiosk_household_members_give_their_name_in_parts(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    kiosk.get("/kiosk/ask/household/member")
    assert 'name="name__family"' in kiosk.text and 'name="kana__given"' in kiosk.text
    assert kiosk.text.count("※") == 2   # 姓 and the birth date
    member = {"name__family": "NGUYEN", "name__given": "VAN AN", "kana__family": "グエン", "kana__given": "ヴァン アン",
              "birth_era": "western", "birth_year": "1990", "birth_month": "1", "birth_day": "2", "sex": "male",
              "relationship": "spouse"}
    r = kiosk.post("/kiosk/ask/household/member", {**member, "name__family": ""})
    assert r.status_code == 400 and 'href="#f-name"' in kiosk.text and "Enter family name" in kiosk.text
    assert kiosk.post("/kiosk/ask/household/member", member).location == "/kiosk/ask/household"
    stored = kiosk.visit().values["household"][0]
    assert stored["name"] == "NGUYEN VAN AN" and stored["kana"] == f"グエン{IDEO}ヴァン{IDEO}アン"
    kiosk.get("/kiosk/ask/household/member/0")
    shown = inputs(kiosk.text)
    assert (shown["name__family"], shown["name__given"]) == ("NGUYEN", "VAN AN")


# --- counter -------------------------------------------------------------------------------------

def test_the_counter_corrects_a_name_in_parts(clerk_client, db):
    app = kiosk_application(db, CERTIFICATE)
    url = f"/counter/applications/{app.id}/fields/name?lang=en"
    page = clerk_client.get(url).get_data(as_text=True)
    assert (inputs(page)["family"], inputs(page)["given"]) == ("髙橋", "𠮷子")
    r = post(clerk_client, url, {"family": "", "given": "𠮷子", "reason": "typo", "version": app.version})
    assert r.status_code == 400 and "Enter family name" in text_of(r) and 'href="#value"' in r.get_data(as_text=True)
    r = post(clerk_client, url, {"family": "髙橋", "given": "𠮷子😀", "reason": "typo", "version": app.version})
    assert r.status_code == 400 and "(😀)" in text_of(r)
    assert ApplicationStore(db).get(app.id).version == app.version   # nothing saved
    r = post(clerk_client, url, {"family": "高橋", "given": "𠮷子", "reason": "spelling on the card",
                                 "version": app.version})
    assert r.status_code == 302
    assert ApplicationStore(db).get(app.id).data["name"] == f"高橋{IDEO}𠮷子"
    kana_url = f"/counter/applications/{app.id}/fields/kana?lang=en"
    r = post(clerk_client, kana_url, {"family": "たかはし", "given": "", "reason": "one name",
                                      "version": ApplicationStore(db).get(app.id).version})
    assert r.status_code == 302 and ApplicationStore(db).get(app.id).data["kana"] == "タカハシ"


def test_the_counter_corrects_a_household_member_in_parts(clerk_client, db):
    form = {**CERTIFICATE, "procedures": ["kodomo_iryo"]}
    form = {k: v for k, v in form.items() if not k.startswith("juminhyo")}
    cat = get_catalogue()
    wanted = {f.name for f in cat.fields_for(["kodomo_iryo"])}
    form = {k: v for k, v in form.items() if k == "procedures" or k in wanted}
    form["household"] = [{"name": f"髙橋{IDEO}一郎", "kana": f"タカハシ{IDEO}イチロウ", "birth_date": "2015-06-30",
                          "sex": "male", "relationship": "child"}]
    from core.application import Application, Source
    from core.forms import parse_application
    from core.store.db import write
    procedures, values = parse_application(form, cat, complete=False)
    app = Application.create(procedures, values, Source.TYPED, actor="kiosk:kiosk-1", channel="kiosk")
    with write(db):
        ApplicationStore(db).save(app)
    url = f"/counter/applications/{app.id}/household?member=0&lang=en"
    shown = inputs(clerk_client.get(url).get_data(as_text=True))
    assert (shown["name__family"], shown["name__given"], shown["kana__given"]) == ("髙橋", "一郎", "イチロウ")
    data = {"member": "0", "name__family": "髙橋", "name__given": "一朗", "kana__family": "たかはし",
            "kana__given": "いちろう", "birth_date": "2015-06-30", "sex": "male", "relationship": "child",
            "reason": "typo", "version": app.version}
    r = post(clerk_client, url, {**data, "name__family": ""})
    assert r.status_code == 400 and "Enter family name" in text_of(r) and 'href="#name"' in r.get_data(as_text=True)
    r = post(clerk_client, url, data)
    assert r.status_code == 302, text_of(r)
    member = ApplicationStore(db).get(app.id).data["household"][0]
    assert member["name"] == f"髙橋{IDEO}一朗" and member["kana"] == f"タカハシ{IDEO}イチロウ"


def test_a_procedures_own_name_field_is_asked_in_parts_too(cat, walker):
    child, child_kana = cat.field("school_child_name"), cat.field("school_child_kana")
    assert child.parts == child_kana.parts == ("family", "given")
    assert answers.read(child, {"family": "山田", "given": "花子"}, cat).value == f"山田{IDEO}花子"
    assert answers.read(child_kana, {"family": "やまだ", "given": "はなこ"}, cat).value == f"ヤマダ{IDEO}ハナコ"
    from prereg.views import input_attrs
    assert input_attrs(child) == {p: {"autocomplete": "off", "spellcheck": "false"} for p in child.parts}
