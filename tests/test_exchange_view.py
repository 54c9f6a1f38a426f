"""core.exchange_view: a person's exchange log as マイナポータル's detail rows, from plain dicts,
and web.exchange_words: their words in every language."""
from __future__ import annotations

import json

import pytest

from core import exchange_log as xlog
from core.catalogue import get_catalogue
from core.exchange_view import Row, detail, rows
from core.site import current_site
from core.store.db import write

# As a server hands them to another (JSON): no database behind them.
ENTRIES = [
    {"seq": 7, "at": "2026-01-01T15:30:00+00:00", "actor": "kiosk:kiosk-1", "counterparty": "mynumber_card",
     "purpose": "card_read", "result": "ok", "fields": ["name", "address", "birth_date"],
     "application_id": "0123456789ABCDEF", "procedures": ["juminhyo"]},
    {"seq": 8, "at": "2026-01-01T15:31:00+00:00", "actor": "kiosk:kiosk-1", "counterparty": "printer:front",
     "purpose": "print", "result": "error:out_of_paper", "fields": None, "application_id": "0123456789ABCDEF",
     "procedures": ["juminhyo"]},
    {"seq": 9, "at": "2026-01-01T15:32:00+00:00", "actor": "kiosk:kiosk-1", "counterparty": "printer:front",
     "purpose": "print", "result": "ok", "fields": json.dumps(["name"]), "application_id": "0123456789ABCDEF",
     "procedures": ["juminhyo"]},
    {"seq": 10, "at": "2026-01-02T00:00:00+00:00", "actor": "kiosk:kiosk-1", "counterparty": "printer:front",
     "purpose": "print", "result": "ok", "fields": None, "application_id": "0123456789ABCDEF",
     "procedures": ["juminhyo"]},
    {"seq": 11, "at": "2026-01-02T01:00:00+00:00", "actor": "clerk:sato", "counterparty": "madoguchi",
     "purpose": "correction", "result": "ok", "fields": ["phone"], "application_id": "0123456789ABCDEF",
     "procedures": ["juminhyo", "kokuho_shutoku"]},
    {"seq": 12, "at": "2026-01-02T02:00:00+00:00", "actor": "system", "counterparty": "backend",
     "purpose": "forward", "result": "rejected:422", "application_id": "0123456789ABCDEF"},
    {"seq": 13, "at": "2026-01-02T03:00:00+00:00", "actor": "kiosk:kiosk-1", "counterparty": "kiosk:kiosk-1",
     "purpose": "disclosure", "result": "ok", "fields": [], "application_id": None},
    {"seq": 14, "at": "2026-01-02T04:00:00+00:00", "actor": "robot", "counterparty": "x", "purpose": "gossip",
     "result": "ok", "fields": ["not_a_field", 3], "application_id": None, "procedures": ["no_such_procedure"]},
]


def by_number(found: list[Row]) -> dict[str, Row]:
    return {r.number: r for r in found}


def test_rows_carry_the_fields_of_the_myna_portal_detail_newest_first():
    found = rows(ENTRIES, get_catalogue(), "ja")
    assert [r.number for r in found] == [f"{n:010d}" for n in range(14, 6, -1)]
    card = by_number(found)["0000000007"]
    assert (card.status, card.kind, card.purpose) == ("done", "card_read", "card_read")
    assert card.at.utcoffset().total_seconds() == 9 * 3600 and card.at_text == "2026-01-02 00:30"   # Japan's time
    assert card.agency.kind == "card_reader"
    assert card.affairs == ("住民基本台帳に関する事務",) and card.procedures == ("住民票の写しがほしい",)
    assert card.information == ("氏名", "住所", "生年月日")     # labels from the catalogue, in their order


def test_status_kind_and_agency_follow_the_result_the_purpose_and_the_actor():
    found = by_number(rows(ENTRIES, get_catalogue(), "en"))
    assert found["0000000008"].status == "failed" and found["0000000008"].agency.kind == "printer"
    # A failed print is no print: the next is the first, the one after it a reprint.
    assert (found["0000000009"].purpose, found["0000000010"].purpose) == ("print", "reprint")
    assert found["0000000010"].kind == "print"
    correction = found["0000000011"]
    assert (correction.kind, correction.agency.kind) == ("correct", "section")
    assert correction.agency.section and correction.information == ("Phone number (daytime contact)",)
    assert correction.affairs == ("Basic resident register affairs", "National Health Insurance affairs")
    assert found["0000000012"].status == "refused" and found["0000000012"].agency.kind == "core_system"
    assert found["0000000013"].kind == "show" and found["0000000013"].agency.kind == "kiosk"
    odd = found["0000000014"]
    assert (odd.kind, odd.agency.kind, odd.procedures, odd.affairs) == ("other", "system", (), ())
    assert odd.information == ("not_a_field",)           # a name, never anything but names


def test_the_section_comes_from_the_site_and_the_city_is_named(app):
    with app.test_request_context():
        site = current_site()
        correction = by_number(rows(ENTRIES, get_catalogue(), "ja", site))["0000000011"]
        sections = site.sections_for("juminhyo")
    assert correction.agency.city == "架空市"
    assert correction.agency.section == (sections[0].name["ja"] if sections else "市民課")


def test_a_stored_entry_becomes_a_detail_without_its_subject_or_hashes(db, config):
    with write(db):
        entry = xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="mynumber_card", purpose="card_read",
                            application_id=None, payload={"name": "山田　太郎"}, person=xlog.Person("山田　太郎",
                                                                                                  "1980-05-17"),
                            fields=["name"])
    sent = detail(entry)
    assert set(sent) == {"seq", "at", "actor", "counterparty", "purpose", "result", "fields", "application_id",
                         "procedures"}
    assert sent["fields"] == ["name"] and sent["procedures"] == []
    assert "山田" not in json.dumps(sent) and entry["subject_ref"] not in json.dumps(sent)
    assert rows([json.loads(json.dumps(sent))], get_catalogue())[0].information == ("氏名",)


@pytest.mark.parametrize("lang, locale, words", [
    ("ja", "ja", {"status": "提供完了", "kind": "カード読取", "affair": "住民基本台帳に関する事務",
                  "information": "氏名、住所、生年月日"}),
    ("en", "en", {"status": "Provided", "kind": "Card read", "affair": "Basic resident register affairs",
                  "information": "Full name, Address, Date of birth"}),
    ("ja-easy", "ja_JP", {"status": "おわりました", "kind": "カードを よみました"}),
    ("ko", "ko", {"status": "제공 완료"}),
    ("vi", "vi", {"status": "Đã cung cấp"}),
    ("pt", "pt_BR", {"status": "Fornecido"}),
    ("zh", "zh_Hans_CN", {"status": "提供完成"}),
])
def test_every_column_has_words_in_each_language(app, lang, locale, words):
    from flask import g
    from flask_babel import force_locale

    from web.exchange_words import HEADERS, texts
    with app.test_request_context(), force_locale(locale):
        g.lang = lang
        found = rows(ENTRIES, get_catalogue(), lang, current_site())
        card = texts(by_number(found)["0000000007"])
        shown = texts(by_number(found)["0000000013"])
        headers = [str(label) for _key, label in HEADERS]
    assert set(card) == {key for key, _label in HEADERS} and card["at"] == "2026-01-02 00:30"
    for key, expected in words.items():
        assert card[key] == expected, key
    assert shown["procedures"] == "—" and shown["information"] == "—"
    assert shown["affair"] and shown["affair"] != card["affair"]          # a disclosure's own affair
    if lang == "ja":
        assert headers == ["管理番号", "状況", "日時", "機関", "事務", "事務手続", "やりとりされた情報の名称", "内容",
                           "理由"]
