"""The procedures a moving-in visit adds (issue 13): each form renders from the same entry with
every value inside its box, the 個人番号 boxes left for the counter, and 手続きナビ finds them."""
from __future__ import annotations

import io
import subprocess
from datetime import date, timedelta

import pdfplumber
import pytest

from core.catalogue import PERSON_FIELD_NAMES, get_catalogue
from core.clock import today_in_japan
from core.errors import ValidationError
from core.forms import parse_application
from core.japanese import format_wareki
from core.navigator import Facts
from printing import render_form
from printing.fields import SEX_LABELS, relationship_word
from printing.layout import load_layout
from tests.helpers import OUTPUT
from tests.test_printing import VISIT, expected_text, layout_raw, marks_in, squash, text_in

ON = date(2025, 4, 1)
TOMORROW = (today_in_japan() + timedelta(days=1)).isoformat()
TODAY = date(2026, 12, 1)
APP_ID = "0123456789ABCDEF"

# The visit's person (tests/test_printing.py), with a member whose name is in Latin script.
PERSON = {**{k: VISIT[k] for k in PERSON_FIELD_NAMES},
          "household": [*VISIT["household"][:2],
                        {"name": "NGUYEN Van An", "kana": "グエン\u3000ヴァン\u3000アン", "birth_date": "2019-05-01",
                         "sex": "male", "relationship": "child"}]}

# Each new procedure with the answers of its own fields, as a visitor gives them.
SAMPLES = {
    "kokuho_shutoku": {"kokuho_join_reason": "shaho_ridatsu", "kokuho_join_date": "2025-03-21",
                       "kokuho_previous_end_date": "2025-03-21", "kokuho_previous_insurer": "全国健康保険協会",
                       "kokuho_head_joins": True},
    "kokuho_soshitsu": {"kokuho_leave_reason": "shaho_kanyu", "kokuho_leave_date": "2025-03-21",
                        "kokuho_new_insurer": "〇〇健康保険組合", "kokuho_head_leaves": False},
    "nenkin": {"nenkin_kind": "shubetsu_henko", "nenkin_change_reason": "left_employer", "nenkin_date": "2025-03-21",
               "nenkin_basic_number": "1234-567890", "nenkin_previous_employer": "株式会社架空商事"},
    "kouki_koureisha": {"birth_date": "1948-05-05", "kouki_reason": "tennyu", "kouki_date": "2025-03-21",
                        "kouki_certificate": True},
    "kaigo_hoken": {"birth_date": "1958-02-10", "kaigo_insured_type": "dai1go", "kaigo_date": "2025-03-21",
                    "kaigo_certificate": True, "kaigo_previous_city": "北海道札幌市"},
    "tennyugaku": {"school_child_name": "NGUYEN Van An", "school_child_kana": "グエン\u3000ヴァン\u3000アン",
                   "school_child_birth_date": "2012-10-01", "school_child_sex": "male",
                   "school_guardian_relationship": "father", "school_kind": "chugakko", "school_grade": 2,
                   "school_previous": "Escola Municipal Santos (Brasil)", "school_start_date": "2025-04-08"},
    "kodomo_iryo": {"kodomo_insurance_kind": "shaho", "kodomo_insured_person": "髙橋\u3000太郎"},
    "koseki_shomei": {"koseki_where": "other_city", "koseki_honseki": "北海道札幌市中央区北一条西二丁目1番地",
                      "koseki_hittosha": "髙橋\u3000太郎", "koseki_relationship": "spouse", "koseki_type": "tohon",
                      "koseki_copies": 2, "koseki_purpose": "passport"},
    "inkan_haishi": {"inkan_haishi_reason": "new_seal", "inkan_haishi_card_number": "0012345",
                     "inkan_card_returned": True},
    "mynumber_card_slip": {},
}
NEW = list(SAMPLES)


def application(pid: str, **changes) -> dict:
    """The sample visitor's entry for one form: the person fields that form asks, and its own."""
    person = {k: v for k, v in PERSON.items() if k in get_catalogue().get(pid).person_fields}
    return {**person, "procedures": [pid], **SAMPLES[pid], **changes}


@pytest.fixture(scope="module")
def pages():
    out = {}
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for pid in NEW:
        pdf = render_form(pid, application(pid), APP_ID, on=ON)
        (OUTPUT / f"new-{pid}.pdf").write_bytes(pdf)
        out[pid] = pdf
    return out


def household_rows(page, table: dict) -> list[dict[str, str]]:
    rows = []
    for i in range(table["rows"]):
        y = table["y"] + table["header_h"] + i * table["row_h"]
        x, row = table["x"], {}
        for col in table["columns"]:
            row[col["key"]] = text_in(page, x, y, col["w"], table["row_h"])
            x += col["w"]
        rows.append(row)
    return rows


@pytest.mark.parametrize("pid", NEW)
def test_every_value_of_the_form_is_inside_its_box(pages, pid):
    data = application(pid)
    cat = get_catalogue()
    layout = load_layout(pid)
    checked = set()
    with pdfplumber.open(io.BytesIO(pages[pid])) as pdf:
        assert len(pdf.pages) == 1
        page = pdf.pages[0]
        assert squash(cat.get(pid).title("ja")) in squash(page.extract_text())
        for f, lf in zip(layout_raw(pid)["fields"], layout.fields, strict=True):
            src = f.get("source")
            if src == "@today":
                assert text_in(page, f["x"], f["y"], f["w"], f["h"]) == "令和741"
            elif src == "@addressee":
                assert text_in(page, f["x"], f["y"], f["w"], f["h"]) == "架空市長あて"
            elif f["type"] in ("text", "kana", "multiline", "cells", "date"):
                w = f["n"] * f["cell_w"] + f.get("gap", 3.0) * len(f.get("gap_after", [])) if f["type"] == "cells" \
                    else f["w"]
                expected = squash(expected_text(f, data[src])) if src in data else ""   # absent: left blank
                assert text_in(page, f["x"], f["y"], w, f["h"]) == expected, src
            elif f["type"] == "choice":
                for option, (mark, _label) in lf.geometry().items():
                    expected = 1 if option == data.get(src) else 0
                    assert marks_in(page, (mark.x, mark.y, mark.w, mark.h)) == expected, (src, option)
            elif f["type"] == "check":
                s = f.get("box_size", 3.4)
                assert marks_in(page, (f["x"], f["y"], s, s)) == (1 if data.get(src) else 0), src
            elif f["type"] == "household":
                rows = household_rows(page, f)
                for row, member in zip(rows, data["household"], strict=False):
                    assert row["name"] == squash(member["kana"] + member["name"])
                    assert row["birth_date"] == format_wareki(date.fromisoformat(member["birth_date"]))
                    assert row["sex"] == SEX_LABELS[member["sex"]]
                    assert row["relationship"] == relationship_word(member["relationship"], member.get("sex"))
                assert all(v == "" for row in rows[len(data["household"]):] for v in row.values())
            checked.add(src)
    # every field of the procedure the sample answers is on the paper
    assert {f.name for f in cat.get(pid).fields} <= checked | {None}
    assert set(cat.get(pid).person_fields) <= checked


@pytest.mark.parametrize("pid", [p for p in NEW if get_catalogue().get(p).needs_individual_number])
def test_the_individual_number_boxes_are_printed_blank_for_the_counter(pages, pid):
    """個人番号 is on the form by law but nothing reads or prints it: the clerk writes it."""
    proc = get_catalogue().get(pid)
    assert "individual_number" not in proc.card_fills
    assert not any("individual" in f.name or "my_number" in f.name for f in proc.fields)
    boxes = [d for d in load_layout(pid).draw if d["kind"] == "cells" and d["n"] == 12]
    assert boxes
    with pdfplumber.open(io.BytesIO(pages[pid])) as pdf:
        page = pdf.pages[0]
        for b in boxes:
            width = b["n"] * b["cell_w"] + b.get("gap", 3.0) * len(b.get("gap_after", []))
            assert text_in(page, b["x"], b["y"], width, b["h"]) == ""
        assert "窓口記入" in squash(page.extract_text())


def test_answers_that_do_not_apply_are_not_asked_nor_printed():
    cat = get_catalogue()
    data = application("kokuho_shutoku", kokuho_join_reason="tennyu")
    for name in ("kokuho_previous_end_date", "kokuho_previous_insurer"):
        assert not cat.field(name).applies(data)
    assert cat.field("kokuho_previous_end_date").applies({"kokuho_join_reason": "seiho_haishi"})
    pdf = render_form("kokuho_shutoku", data, APP_ID, on=ON)
    f = next(f for f in layout_raw("kokuho_shutoku")["fields"] if f.get("source") == "kokuho_previous_end_date")
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert text_in(doc.pages[0], f["x"], f["y"], f["w"], f["h"]) == ""


def test_the_pages_have_ink_and_paper_to_look_at(pages):
    import cv2
    import numpy as np
    for pid in NEW:
        stem = OUTPUT / f"new-{pid}"
        subprocess.run(["pdftoppm", "-png", "-r", "60", f"{stem}.pdf", str(stem)], check=True)
        img = cv2.imread(f"{stem}-1.png", cv2.IMREAD_GRAYSCALE)
        ink = np.count_nonzero(img < 128) / img.size
        assert 0.02 < ink < 0.25, pid


# ------------------------------------------------------------------------------ the answers

@pytest.mark.parametrize("pid", NEW)
def test_each_sample_is_a_complete_application(pid):
    procedures, values = parse_application(application(pid), get_catalogue(), complete=True)
    assert procedures == [pid] and values["name"] == PERSON["name"]


def test_one_entry_fills_every_new_form_at_once():
    everything = {**PERSON, "procedures": NEW}
    for pid in NEW:
        everything.update(SAMPLES[pid])
    everything["birth_date"] = PERSON["birth_date"]    # the samples of 75+ and 65+ forms set their own
    procedures, _values = parse_application(everything, get_catalogue(), complete=True)
    assert procedures == NEW


@pytest.mark.parametrize("pid, changes, field, code", [
    ("kokuho_shutoku", {"kokuho_join_date": TOMORROW}, "kokuho_join_date", "date_in_future"),
    ("kokuho_shutoku", {"kokuho_previous_end_date": None}, "kokuho_previous_end_date", "required"),
    ("kokuho_shutoku", {"kokuho_join_reason": "married"}, "kokuho_join_reason", "bad_choice"),
    ("nenkin", {"nenkin_change_reason": None}, "nenkin_change_reason", "required"),
    ("tennyugaku", {"school_grade": 7}, "school_grade", "out_of_range"),
    ("tennyugaku", {"school_child_birth_date": TOMORROW}, "school_child_birth_date", "date_in_future"),
    ("koseki_shomei", {"koseki_copies": 0}, "koseki_copies", "out_of_range"),
])
def test_bad_answers_are_refused_naming_the_field(pid, changes, field, code):
    data = {k: v for k, v in {**application(pid), **changes}.items() if v is not None}
    with pytest.raises(ValidationError) as e:
        parse_application(data, get_catalogue(), complete=True)
    assert (field, code) in [(err.field, err.code) for err in e.value.errors]


# ------------------------------------------------------------------------------ the catalogue

def test_the_new_procedures_are_offered_for_their_life_events():
    cat = get_catalogue()
    assert "kokuho_shutoku" in cat.event("moving_in").procedures
    assert "kokuho_shutoku" in cat.event("child").procedures
    assert "kokuho_soshitsu" in cat.event("moving_out").procedures
    assert "nenkin" in cat.event("moving_in").procedures and "kouki_koureisha" in cat.event("moving_in").procedures
    assert "kaigo_hoken" in cat.event("moving_in").procedures
    assert {"moving_in", "moving_within"} <= {e for e in cat.life_events if "tennyugaku" in cat.event(e).procedures}
    assert "受給資格証明書" in cat.get("kaigo_hoken").what_to_bring["ja"][0]
    bring = cat.get("kouki_koureisha").what_to_bring
    assert "負担区分等証明書" in bring["ja"][0] and "cost-sharing" in bring["en"][0]
    assert cat.get("kokuho_shutoku").needs_individual_number and cat.get("kokuho_soshitsu").needs_individual_number
    assert "koseki_shomei" in cat.event("certificates").procedures
    assert "inkan_haishi" in cat.event("seal").procedures and "inkan_haishi" not in cat.event("seal").required
    koseki = {f.name: f for f in cat.get("koseki_shomei").fields}
    assert "other_city" in koseki["koseki_where"].choices        # 広域交付 is one of the choices
    assert "広域交付" in koseki["koseki_where"].choice_label("other_city", "ja")
    names = [f.name for f in cat.fields_for(["juminido", "kokuho_shutoku"])]
    assert names.count("name") == 1 and names.count("household") == 1   # one entry fills both forms


# ------------------------------------------------------------------------------ 手続きナビ

def suggested(facts: Facts, event: str = "moving_in") -> list[str]:
    cat = get_catalogue()
    return [s.procedure for s in cat.navigator.suggest(event, facts, set(cat.event(event).procedures))]


def asked(facts: Facts, event: str = "moving_in") -> list[str]:
    cat = get_catalogue()
    return [q.id for q in cat.navigator.questions_for(event, facts, set(cat.event(event).procedures))]


def test_kokuho_is_suggested_without_an_employers_insurance_and_not_at_75():
    facts = Facts(birth_date="1985-04-01", today=TODAY)
    assert "has_employer_insurance" in asked(facts)
    assert "kokuho_shutoku" in suggested(facts)
    facts.answers["has_employer_insurance"] = True
    assert "kokuho_shutoku" not in suggested(facts)
    assert "kokuho_shutoku" not in suggested(Facts(birth_date="1951-12-01", today=TODAY))   # 75 today
    assert "kokuho_shutoku" in suggested(Facts(birth_date="1951-12-02", today=TODAY))       # 74


def test_at_75_the_guide_suggests_late_stage_elderly_care_instead_of_kokuho():
    at_75 = Facts(birth_date="1951-12-01", today=TODAY)
    assert "kouki_koureisha" in suggested(at_75) and "kokuho_shutoku" not in suggested(at_75)
    at_74 = Facts(birth_date="1951-12-02", today=TODAY)
    assert "kouki_koureisha" not in suggested(at_74)
    reason = get_catalogue().navigator.rules["kouki_75"].reason
    assert "負担区分等証明書" in reason["ja"]


@pytest.mark.parametrize("born, certified, expected", [
    ("1961-12-01", False, True),     # 65 today
    ("1961-12-02", False, False),    # 64
    ("1970-06-01", True, True),      # 56 and certified: a 第2号被保険者 bringing the 受給資格証明書
])
def test_long_term_care_is_suggested_at_65_or_when_certified(born, certified, expected):
    facts = Facts(birth_date=born, answers={"care_certified": certified}, today=TODAY)
    assert ("kaigo_hoken" in suggested(facts)) is expected


@pytest.mark.parametrize("child_born, expected", [
    ("2020-12-01", True),     # 6 today
    ("2020-12-02", False),    # 5
    ("2011-12-02", True),     # 14
    ("2010-12-02", True),     # 15
    ("2010-12-01", False),    # 16 today
])
def test_a_child_of_school_age_brings_the_school_transfer(child_born, expected):
    facts = Facts.from_values({"birth_date": "1985-04-01", "household": [{"birth_date": child_born}]}, today=TODAY)
    for event in ("moving_in", "moving_within"):
        assert ("tennyugaku" in suggested(facts, event)) is expected


def test_childrens_medical_subsidy_comes_with_a_child_and_with_every_birth():
    alone = Facts(birth_date="1985-04-01", today=TODAY)
    assert "kodomo_iryo" not in suggested(alone)
    with_child = Facts.from_values({"birth_date": "1985-04-01", "household": [{"birth_date": "2024-01-01"}]},
                                   today=TODAY)
    assert "kodomo_iryo" in suggested(with_child) and "jido_teate" in suggested(with_child)
    assert "kodomo_iryo" in suggested(alone, "child")


def test_a_card_holder_who_moves_gets_the_slip_with_what_to_do_at_the_terminal(pages):
    for event in ("moving_in", "moving_within"):
        facts = Facts(birth_date="1985-04-01", today=TODAY)
        assert "has_mynumber_card" in asked(facts, event) and "mynumber_card_slip" not in suggested(facts, event)
        facts.answers["has_mynumber_card"] = True
        assert "mynumber_card_slip" in suggested(facts, event)
    proc = get_catalogue().get("mynumber_card_slip")
    assert proc.person_fields == ("name",) and proc.fields == ()
    with pdfplumber.open(io.BytesIO(pages["mynumber_card_slip"])) as pdf:
        text = squash(pdf.pages[0].extract_text())
    assert "90日以内" in text and "暗証番号" in text and "住基端末" in text and "券面記載事項変更" in text
    assert squash(PERSON["name"]) in text


def test_a_newborn_joins_kokuho_when_the_parent_says_so():
    facts = Facts(birth_date="1990-01-01", today=TODAY)
    assert "baby_on_kokuho" in asked(facts, "child")
    assert "kokuho_shutoku" not in suggested(facts, "child")
    facts.answers["baby_on_kokuho"] = True
    assert "kokuho_shutoku" in suggested(facts, "child")


def test_moving_out_on_kokuho_suggests_leaving_it():
    facts = Facts(birth_date="1985-04-01", today=TODAY)
    assert asked(facts, "moving_out") == ["on_kokuho"]
    assert suggested(facts, "moving_out") == ["juminido"]
    facts.answers["on_kokuho"] = True
    assert suggested(facts, "moving_out") == ["juminido", "kokuho_soshitsu"]


@pytest.mark.parametrize("born, asked_too, suggested_too", [
    ("1985-04-01", True, True),      # 41: asked; without an employer's pension, 国民年金
    ("2006-12-02", False, False),    # 19 (20 tomorrow): not yet
    ("2006-12-01", True, True),      # 20 today
    ("1966-12-02", True, True),      # 59
    ("1966-12-01", False, False),    # 60 today: no longer
    (None, True, True),              # age not known yet (prereg before the entry): asked
])
def test_national_pension_is_for_20_to_59_without_an_employers_pension(born, asked_too, suggested_too):
    facts = Facts(birth_date=born, today=TODAY)
    assert ("has_employer_pension" in asked(facts)) is asked_too
    assert ("nenkin" in suggested(facts)) is suggested_too
    facts.answers["has_employer_pension"] = True
    assert "nenkin" not in suggested(facts)


def test_the_koseki_form_says_who_may_ask_for_a_register_kept_elsewhere(pages):
    with pdfplumber.open(io.BytesIO(pages["koseki_shomei"])) as pdf:
        text = squash(pdf.pages[0].extract_text())
    assert "広域交付" in text and "代理人や郵送では請求できません" in text and "顔写真付き" in text


# ------------------------------------------------------------------------------ at the kiosk

def test_a_kiosk_visit_asks_the_new_forms_questions_and_prints_them(kiosk, tmp_path):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("moving_in", ["juminido", "kokuho_shutoku", "mynumber_card_slip"])
    asked = kiosk.answer_all({
        "kokuho_join_reason": {"value": "tennyu"},
        "kokuho_join_date": {"era": "western", "year": "2026", "month": "11", "day": "1"},
        "kokuho_head_joins": {"value": "yes"},
    })
    assert {"kokuho_join_reason", "kokuho_join_date"} <= set(asked)
    assert "kokuho_previous_end_date" not in asked            # 転入: no previous insurance's end asked
    r = kiosk.print_and_wait()
    assert r.request.path == "/kiosk/done", kiosk.text
    assert "Insurance and Pension" in kiosk.text or "保険年金課" in kiosk.text     # where the kokuho form goes
    [pdf] = list((tmp_path / "var" / "printed").glob("*.pdf"))
    with pdfplumber.open(pdf) as doc:
        titles = [squash(p.extract_text()) for p in doc.pages]
    assert len(titles) == 3
    assert "国民健康保険資格取得届" in titles[1] and "マイナンバーカード継続利用" in titles[2]
