"""The 住民異動届 as 住民基本台帳法 §22–25 asks: 続柄 to the 世帯主, the 届出人 apart from the
people who move, 転入's own items, 本籍 or the residence card, and a late notice that warns."""
from __future__ import annotations

import io
from datetime import timedelta

import pdfplumber
import pytest

from core.catalogue import get_catalogue
from core.clock import today_in_japan
from core.errors import ValidationError
from core.forms import head_name, notices, parse_application
from printing import render_form
from tests.helpers import MOVE_IN_EXTRAS
from tests.test_printing import layout_raw, text_in

BASE = {"procedures": ["juminido"], "name": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ", "birth_date": "1985-04-01",
        "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－１",
        "move_type": "tennyu", "move_date": "2026-11-20", "previous_postal_code": "0600000",
        "previous_address": "北海道札幌市中央区北１条西２丁目", **MOVE_IN_EXTRAS}


def problems(data) -> dict[str, str]:
    with pytest.raises(ValidationError) as e:
        parse_application(data, get_catalogue())
    return {err.field: err.code for err in e.value.errors}


def box(pid: str, source: str) -> dict:
    return next(f for f in layout_raw(pid)["fields"] if f.get("source") == source)


def printed(values: dict, source: str, page: int = 0) -> str:
    f = box("juminido", source)
    with pdfplumber.open(io.BytesIO(render_form("juminido", values, "0123456789ABCDEF"))) as pdf:
        w = f.get("w") or f["n"] * f["cell_w"] + f.get("gap", 3.0) * len(f.get("gap_after", []))
        return text_in(pdf.pages[page], f["x"], f["y"], w, f["h"])


def test_the_head_is_named_only_when_the_person_is_not_the_head():
    _, values = parse_application(BASE, get_catalogue())
    assert "head_of_household" not in values and head_name(values) == "山田\u3000太郎"
    assert problems({**BASE, "head_of_household": "山田\u3000一郎"}) == {"head_of_household": "not_applicable"}
    assert problems({**BASE, "relationship_to_head": "child"}) == {"head_of_household": "required"}
    _, child = parse_application({**BASE, "relationship_to_head": "child", "head_of_household": "山田\u3000一郎"},
                                 get_catalogue())
    assert head_name(child) == "山田\u3000一郎"


def test_relationships_are_to_the_head_and_a_household_has_one_head():
    wife = {**BASE, "name": "山田\u3000花子", "sex": "female", "relationship_to_head": "spouse",
            "head_of_household": "山田\u3000太郎"}
    husband = {"name": "山田\u3000太郎", "birth_date": "1985-04-01", "sex": "male", "relationship": "head"}
    child = {"name": "山田\u3000一郎", "birth_date": "2015-06-30", "sex": "male", "relationship": "child"}
    # The head moves too: their row says 世帯主, and the form's 世帯主 is their name, not a typed one.
    _, values = parse_application({**wife, "household": [husband, child], "head_of_household": None},
                                  get_catalogue(), complete=False)
    assert head_name(values) == "山田\u3000太郎"
    assert printed(values, "@head_of_household") == "山田太郎"
    assert printed(values, "@relationship_to_head") == "妻"           # by sex, as the 住民票 writes it
    table = box("juminido", "household")
    with pdfplumber.open(io.BytesIO(render_form("juminido", values, "0123456789ABCDEF"))) as pdf:
        text = pdf.pages[0].extract_text()
    assert "世帯主" in text and "子" in text and "spouse" not in text and "head" not in text
    assert table["columns"][-1]["label"] == "世帯主との続柄"
    # Two heads: the person and a member, or two members.
    assert problems({**BASE, "household": [husband]}) == {"household[0].relationship": "second_head"}
    assert problems({**wife, "household": [husband, {**child, "relationship": "head"}]}) == {
        "household[1].relationship": "second_head"}


def test_the_notifier_is_separate_and_an_agent_gives_their_own_details():
    agent = {**BASE, "notifier_type": "agent"}
    assert problems(agent) == {"agent_name": "required", "agent_address": "required"}
    _, values = parse_application({**agent, "agent_name": "代理\u3000一子", "agent_address": "東京都港区芝公園４－２",
                                   "agent_phone": "03-5555-0101"}, get_catalogue())
    assert printed(values, "agent_name") == "代理一子" and printed(values, "agent_address") == "東京都港区芝公園４－２"
    assert printed(values, "agent_phone") == "03-5555-0101"
    assert problems({**BASE, "agent_name": "代理\u3000一子"}) == {"agent_name": "not_applicable"}


def test_moving_in_needs_the_previous_address_and_takes_the_optional_items():
    without = dict(BASE)
    without.pop("previous_address")
    assert problems(without) == {"previous_address": "required"}
    _, values = parse_application({**BASE, "tokurei_tennyu": True, "previous_resident_code": "１２３４５６７８９０１"},
                                  get_catalogue())
    assert values["previous_resident_code"] == "12345678901"
    assert printed(values, "previous_resident_code") == "12345678901"
    assert problems({**BASE, "previous_resident_code": "1234"}) == {"previous_resident_code": "bad_format"}
    # 国外からの転入: the country, not a 前住所; 国外への転出: where to, no date limit.
    abroad = {**BASE, "move_type": "kokugai_tennyu", "previous_country": "ベトナム"}
    abroad.pop("previous_address")
    abroad.pop("previous_postal_code")
    _, values = parse_application(abroad, get_catalogue())
    assert printed(values, "previous_country") == "ベトナム"


def test_a_foreign_resident_gives_the_residence_card_and_its_number_is_checked():
    foreign = {k: v for k, v in BASE.items() if k not in ("honseki", "hittousha")}
    foreign.update(nationality_kind="foreign", nationality_region="ベトナム",
                   residence_status="gijinkoku", residence_expiry="2028-03-31",
                   residence_card_number="ab12345678cd")
    _, values = parse_application(foreign, get_catalogue())
    assert values["residence_card_number"] == "AB12345678CD"
    assert printed(values, "residence_card_number") == "AB12345678CD"
    assert printed(values, "residence_status") == "技術・人文知識・国際業務"
    for wrong in ("AB1234567CD", "A112345678CD", "AB12345678C1"):
        assert problems({**foreign, "residence_card_number": wrong}) == {"residence_card_number": "bad_format"}
    # A Japanese spouse moving with them has a 本籍: it is asked whatever the person's nationality.
    assert parse_application({**foreign, "honseki": "北海道札幌市中央区北１条西２丁目１番地"}, get_catalogue())
    assert problems({**foreign, "move_type": "tenkyo", "honseki": "北海道"})["honseki"] == "not_applicable"
    # 本籍 may be left to the clerk, who copies it from the 転出証明書.
    japanese = {k: v for k, v in BASE.items() if k not in ("honseki", "hittousha")}
    assert parse_application(japanese, get_catalogue())[1]["nationality_kind"] == "japanese"


def test_a_move_date_in_the_future_is_refused_and_a_late_one_only_warned():
    today = today_in_japan()
    assert problems({**BASE, "move_date": (today + timedelta(days=1)).isoformat()}) == {"move_date": "date_in_future"}
    cat = get_catalogue()
    late = {**BASE, "move_date": (today - timedelta(days=15)).isoformat()}
    procs, values = parse_application(late, cat)        # accepted
    assert [(n.field, n.code, n.params) for n in notices(procs, values, cat)] == [
        ("move_date", "late_notice", {"days": 14})]
    on_time = {**BASE, "move_date": (today - timedelta(days=14)).isoformat()}
    assert notices(*parse_application(on_time, cat), cat) == []
    # A 転出 may be notified before the move, and long after is not this rule's business.
    out = {k: v for k, v in BASE.items() if not k.startswith("previous_") and k not in ("honseki", "hittousha",
                                                                                         "nationality_kind")}
    out.update(move_type="tenshutsu", move_date=(today - timedelta(days=40)).isoformat(),
               new_address="大阪府大阪市北区")
    assert notices(*parse_application(out, cat), cat) == []
    # Counted from the day the notice was given, for the clerk who opens it later.
    assert notices(procs, values, cat, on=today - timedelta(days=5)) == []


def test_the_late_notice_is_shown_on_the_kiosks_check_page_in_the_visitors_language(kiosk):
    late = today_in_japan() - timedelta(days=20)
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido"])
    kiosk.answer_all({"move_date": {"era": "western", "year": str(late.year), "month": str(late.month),
                                    "day": str(late.day)}})
    assert "Date of move is more than 14 days ago" in kiosk.text and "asked why it is late" in kiosk.text
    on_time = today_in_japan() - timedelta(days=3)
    kiosk.post("/kiosk/ask/move_date?back=confirm", {"era": "western", "year": str(on_time.year),
                                                    "month": str(on_time.month), "day": str(on_time.day)})
    kiosk.get("/kiosk/confirm")
    assert "days ago" not in kiosk.text and "data-notice" not in kiosk.text


def test_the_late_notice_is_shown_on_prereg_check_page_and_the_resident_can_still_send(walker):
    from tests.prereg_helpers import answer_all, date_parts
    from tests.test_prereg_flow import CERT_ANSWERS, start
    late = today_in_japan() - timedelta(days=30)
    start(walker, "moving_in", ("juminido",))
    answer_all(walker, dict(CERT_ANSWERS, move_date=date_parts("move_date", late.year, late.month, late.day),
                            previous_postal_code={"previous_postal_code": "0600000"},
                            previous_address={"previous_address__town": "北海道札幌市中央区",
                                              "previous_address__rest": "1-1"}))
    assert walker.at() == "/prereg/check"
    assert "異動日から14日を過ぎています。届出は受け付けますが" in walker.page
    walker.post({})
    assert walker.at() == "/prereg/done"


def test_the_child_allowance_prints_each_relationship_to_the_claimant_not_to_the_head():
    """The mother claims; the father is the head: on the 児童手当 form he is 夫 and the children 子,
    while the 住民異動届 keeps 世帯主 (relationships are recorded to the head)."""
    from core.forms import relationship_to_person
    assert relationship_to_person("head", "spouse") == "spouse"
    assert relationship_to_person("child", "spouse") == "child"
    assert relationship_to_person("spouse", "child") == "parent"
    assert relationship_to_person("child", "child") == "sibling"
    assert relationship_to_person("parent", "spouse") is None          # 義父母: left for the counter
    assert relationship_to_person("child", "head") == "child" and relationship_to_person("child", None) == "child"
    values = {"name": "山田\u3000花子", "sex": "female", "relationship_to_head": "spouse",
              "household": [{"name": "山田\u3000太郎", "birth_date": "1985-04-01", "sex": "male",
                             "relationship": "head"},
                            {"name": "山田\u3000一郎", "birth_date": "2019-06-30", "sex": "male",
                             "relationship": "child"}]}
    table = box("jido_teate", "household")
    x = table["x"] + sum(c["w"] for c in table["columns"][:-1])
    body = table["y"] + table["header_h"]
    with pdfplumber.open(io.BytesIO(render_form("jido_teate", values, "0123456789ABCDEF"))) as pdf:
        page = pdf.pages[0]
        words = [text_in(page, x, body + i * table["row_h"], table["columns"][-1]["w"], table["row_h"]) for i in (0, 1)]
    assert words == ["夫", "子"]
    assert printed(values, "@relationship_to_head") == "妻"
