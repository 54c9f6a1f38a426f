"""Kanji candidates for kana typed at the kiosk (kiosk.kanji): the dictionaries, the route,
and the reading of the kanji chosen kept as the フリガナ."""
from __future__ import annotations

import re

import pytest

from kiosk import kanji
from kiosk.kanji import Candidate, Dictionary, as_reading, kind_for_field, parse_skk, parse_variants
from printing.fonts import first_unprintable
from tests.kiosk_helpers import Kiosk

pytestmark = pytest.mark.skipif(not (kanji.SKK_FOLDER / "SKK-JISYO.jinmei").is_file(),
                                reason="Debian's skkdic-extra is not installed (scripts/install-system-packages)")


def texts(reading: str, kind: str = "name") -> list[str]:
    return [c.text for c in kanji.shared().candidates(reading, kind)]


# --- the dictionaries -------------------------------------------------------------------------

def test_a_surname_offers_its_kanji_and_their_variants_next_to_them():
    found = texts("たかはし")
    assert found[:2] == ["高橋", "髙橋"]                 # jinmei first, 髙 right after 高
    assert "高階" in found
    assert "𠮷" in texts("よし")[:3]
    assert {"山崎", "山﨑"} <= set(texts("やまさき"))
    assert {"渡辺", "渡邊", "渡邉"} <= set(texts("わたなべ"))
    assert {"斎藤", "齋藤", "齊藤"} <= set(texts("さいとう"))
    assert {"浜田", "濱田", "濵田"} <= set(texts("はまだ"))
    assert "髙﨑" in texts("たかさき")                      # both characters changed
    assert "佳子" in texts("よしこ")


def test_kinds_read_their_own_dictionaries_first():
    assert texts("かすみがせき", "address")[0] == "霞が関"
    assert texts("ちよだく", "address")[0] == "千代田区"
    assert texts("しごと", "text")[0] == "仕事"
    assert "髙橋" not in texts("たかはし", "text")         # 異体字 are for names
    with pytest.raises(ValueError):
        kanji.shared().candidates("たかはし", "evil")


def test_what_is_being_typed_offers_the_longer_readings_and_the_longest_beginning():
    found = kanji.shared().candidates("たかは", "name")
    takahashi = next(c for c in found if c.text == "高橋")
    assert (takahashi.reading, takahashi.covers) == ("たかはし", 3)
    # No word reads やまだたろう: 山田 replaces its first three kana, たろう stays to convert.
    found = kanji.shared().candidates("やまだたろう", "name")
    assert Candidate("山田", "やまだ", 3) in found
    assert "太郎" in texts("たろう")


def test_a_reading_nothing_is_read_as_offers_only_the_kana_itself():
    assert kanji.shared().candidates("ゔゔゔ", "name") == [Candidate("ゔゔゔ", "ゔゔゔ", 3)]
    assert len(kanji.shared().candidates("あ", "text")) <= kanji.LIMIT


def test_every_candidate_prints_and_none_keeps_an_annotation():
    for reading in ("たかはし", "よし", "さき", "とく", "さい", "かわべ", "はま", "ちよだく", "あい"):
        for kind in kanji.KINDS:
            for c in kanji.shared().candidates(reading, kind):
                assert first_unprintable(c.text) is None, c
                assert ";" not in c.text and "/" not in c.text and not c.text.isascii(), c


def test_skk_entries_lose_annotations_okuri_ari_lisp_and_ascii():
    text = "\n".join([
        ";; okuri-ari entries.",
        "かk /書;write/描/",
        ";; okuri-nasi entries.",
        "たかはし /高橋;人名 ピアニスト, 姓/高階;人名/",
        "お> /御/",
        "きょう /(concat \"今日\")/今日/today/",
        "#かい /#1回/",
        "さき /咲;名/先/",
        "とく /德;「徳」の旧字(人名用漢字)/𢛳/",
        "かいほう /開封;中国地名/",
    ])
    assert parse_skk(text) == {"たかはし": ("高橋", "高階"), "きょう": ("今日",), "さき": ("咲", "先"),
                               "とく": ("德", "𢛳"), "かいほう": ("開封",)}
    assert parse_skk(text, needs=kanji.NAME_NOTE) == {"たかはし": ("高橋", "高階"), "さき": ("咲",), "とく": ("德",)}
    assert parse_variants("高 髙\n# a comment\n") == {"高": ["髙"], "髙": ["高"]}
    skk = "崎 /㟢;1-47-79/﨑;1-47-82/\n徳 /德;<人名用漢字>,1-84-37/𢛳;2-12-48/\n"
    assert parse_variants(skk, "人名用漢字") == {"徳": ["德"], "德": ["徳"]}


def test_a_candidate_no_print_font_has_is_never_offered(tmp_path):
    unprintable = "\U0003134a"            # CJK Extension G: in no font of the print styles
    assert first_unprintable(unprintable) is not None
    (tmp_path / "SKK-JISYO.jinmei").write_text(f"たかはし /{unprintable}橋;姓/高橋;姓/\n", encoding="utf-8")
    variants = tmp_path / "variants.txt"
    variants.write_text(f"高 {unprintable} 髙\n", encoding="utf-8")
    d = Dictionary(tmp_path, variants)
    assert [c.text for c in d.candidates("たかはし", "name")] == ["高橋", "髙橋", "たかはし"]


def test_without_the_dictionaries_only_the_kana_is_offered(tmp_path):
    d = Dictionary(tmp_path / "missing")
    assert d.candidates("たかはし", "name") == [Candidate("たかはし", "たかはし", 4)]


def test_typed_kana_as_a_reading():
    assert as_reading("タカハシ") == "たかはし"
    assert as_reading("ﾀｶﾊｼ") == "たかはし"              # half-width
    assert as_reading("ヴィーナス") == "ゔぃーなす"
    for bad in ("", "abc", "高橋", "たか はし", "た\x00", "あ" * (kanji.MAX_READING + 1), "\ud800"):
        assert as_reading(bad) is None, bad


def test_which_fields_get_which_candidates():
    assert kind_for_field("name", "text", True) == "name"
    assert kind_for_field("head_of_household", "text") == "name"
    assert kind_for_field("agent_name", "text") == "name"
    assert kind_for_field("bank_name", "text") == "text"
    assert kind_for_field("address", "address") == "address"
    assert kind_for_field("kana", "kana", True) is None
    assert kind_for_field("phone", "phone") is None


# --- the route ----------------------------------------------------------------------------------

def test_the_route_answers_json_for_kana(kiosk):
    kiosk.start("ja")
    r = kiosk.get("/kiosk/kanji?reading=タカハシ&kind=name")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.json["reading"] == "たかはし"
    assert {"text": "髙橋", "reading": "たかはし", "covers": 4} in r.json["candidates"]
    assert len(r.json["candidates"]) <= kanji.LIMIT
    assert r.headers["Cache-Control"].startswith("no-store")


@pytest.mark.parametrize("query", [
    "", "?kind=name", "?reading=abc&kind=name", "?reading=高橋&kind=name", "?reading=たかはし&kind=evil",
    "?reading=" + "あ" * 5000, "?reading=%00", "?reading=%ED%A0%80", "?reading=%FF%FE&kind=text",
    "?reading=たか&kind=" + "x" * 3000,
])
def test_bad_input_gets_a_clear_400(kiosk, query):
    r = kiosk.get("/kiosk/kanji" + query)
    assert r.status_code == 400 and r.json["error"] in ("bad_reading", "bad_kind") and r.json["message"]


def test_only_the_kiosks_own_browser_gets_candidates(kiosk_app):
    other = Kiosk(kiosk_app(devices={"emulator_persona": ""}), paired=False)
    r = other.get("/kiosk/kanji?reading=たかはし&kind=name")
    assert r.status_code == 403 and "髙橋" not in r.get_data(as_text=True)


# --- the reading kept as the フリガナ --------------------------------------------------------------

def moving_in(kiosk):
    """A visitor who read their card and chose the moving-in notice (which asks name, kana, household)."""
    kiosk.start("ja")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])


def inputs(html: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r'<input[^>]*\bid="([^"]+)"[^>]*>', html)}


def test_the_name_question_keeps_the_reading_for_the_kana_question(kiosk):
    moving_in(kiosk)
    kiosk.get("/kiosk/ask/name")
    shown = inputs(kiosk.text)
    assert 'data-kanji="name"' in shown["f-name"] and 'data-reading-into="f-name-reading"' in shown["f-name"]
    assert 'name="given__reading"' in shown["f-name-given-reading"]
    assert "data-kanji-bar" in kiosk.text
    r = kiosk.post("/kiosk/ask/name", {"family": "髙橋", "given": "一郎",
                                       "family__reading": "タカハシ", "given__reading": "いちろう"})
    assert r.status_code == 302 and kiosk.visit().values["name"] == "髙橋\u3000一郎"
    kiosk.get("/kiosk/ask/kana")
    shown = inputs(kiosk.text)
    assert 'value="タカハシ"' in shown["f-kana"] and 'value="イチロウ"' in shown["f-kana-given"]
    assert "data-kanji" not in shown["f-kana"]                      # no candidates for kana
    # The visitor's own kana wins; a name retyped without a reading (no JavaScript) keeps none.
    kiosk.post("/kiosk/ask/kana", {"family": "タカバシ", "given": "イチロウ"})
    assert kiosk.visit().values["kana"] == "タカバシ\u3000イチロウ"
    kiosk.post("/kiosk/ask/name", {"family": "山田", "given": "一郎", "family__reading": "ヤマダ"})
    assert kiosk.visit().readings == {}


def test_a_reading_that_is_not_kana_is_not_kept(kiosk):
    moving_in(kiosk)
    kiosk.post("/kiosk/ask/name", {"family": "髙橋", "given": "", "family__reading": "<script>"})
    assert kiosk.visit().readings == {}
    kiosk.post("/kiosk/ask/name", {"family": "髙橋", "given": "", "family__reading": "タ" * 500})
    assert kiosk.visit().readings == {}
    kiosk.post("/kiosk/ask/name", {"family": "髙橋", "given": "", "family__reading": "タカハシ"})
    assert kiosk.visit().readings == {"kana": "タカハシ"}
    v = kiosk.visit()
    v.finish()
    assert v.readings == {} and not v.has_personal_data


def test_the_member_page_passes_the_name_readings_to_its_kana_inputs(kiosk):
    moving_in(kiosk)
    kiosk.get("/kiosk/ask/household/member")
    shown = inputs(kiosk.text)
    assert 'data-kanji="name"' in shown["f-name"] and 'data-reading-into="f-kana"' in shown["f-name"]
    assert 'data-reading-into="f-kana-given"' in shown["f-name-given"]
    assert "data-kanji" not in shown["f-kana"]
