"""A family of four moving in from another city, the father a foreign national: the 手続きナビ
finds their forms from the guide's answers and the birth dates, the application passes the
checks every surface uses, and every value prints inside its box on every page (pdfplumber).
Each page is also written as a PNG to tests/output/family/ to look at."""
from __future__ import annotations

import io
import subprocess
from datetime import date

import pdfplumber
import pytest

from core.catalogue import get_catalogue
from core.forms import parse_application
from core.navigator import Facts
from printing import render_application
from printing.fields import relationship_word
from tests.helpers import OUTPUT
from tests.test_printing import APP_ID, VISIT, expected_text, layout_raw, squash, text_in

ON = date(2026, 12, 1)
FAMILY = {
    "name": "NGUYEN Van An", "kana": "グエン\u3000ヴァン\u3000アン", "birth_date": "1988-07-15", "sex": "male",
    "postal_code": "1000001", "address": "東京都千代田区千代田１－１　パークハイツ千代田１０１号室",
    "phone": "090-1234-5678",
    "household": [
        {"name": "山田\u3000花子", "kana": "ヤマダ\u3000ハナコ", "birth_date": "1990-02-03", "sex": "female",
         "relationship": "spouse"},
        {"name": "NGUYEN 陽太", "kana": "グエン\u3000ヨウタ", "birth_date": "2016-05-05", "sex": "male",
         "relationship": "child"},
        {"name": "NGUYEN 美咲", "kana": "グエン\u3000ミサキ", "birth_date": "2022-08-10", "sex": "female",
         "relationship": "child"}],
    # 住民異動届: from Sapporo, the father is the head and gives the notice himself.
    "move_type": "tennyu", "move_date": "2026-11-25", "previous_postal_code": "0600000",
    "previous_address": "北海道札幌市中央区北１条西２丁目３番地４", "relationship_to_head": "head",
    "nationality_kind": "foreign", "nationality_region": "ベトナム", "residence_status": "gijinkoku",
    "residence_expiry": "2028-03-31", "residence_card_number": "AB12345678CD", "notifier_type": "self",
    "previous_resident_code": "12345678901",
    "honseki": "北海道札幌市中央区北１条西２丁目１番地", "hittousha": "山田\u3000花子",   # the Japanese wife's
    # 国民健康保険 (no employer's insurance), for him and the whole family
    "kokuho_join_reason": "tennyu", "kokuho_join_date": "2026-11-25", "kokuho_head_joins": True,
    # 児童手当, 子ども医療費, 転入学 for the school-age child
    "pension_type": "kosei", "spouse_name": "山田\u3000花子", "jido_payment": "account",
    "bank_name": "みずほ銀行", "bank_branch": "千代田",
    "account_type": "futsu", "account_number": "1234567", "account_holder_kana": "グエン\u3000ヴァン\u3000アン",
    "kodomo_insurance_kind": "kokuho", "kodomo_insured_person": "NGUYEN Van An",
    "school_child_name": "NGUYEN 陽太", "school_child_kana": "グエン\u3000ヨウタ",
    "school_child_birth_date": "2016-05-05",
    "school_child_sex": "male", "school_guardian_relationship": "father", "school_kind": "shogakko", "school_grade": 5,
    "school_previous": "札幌市立中央小学校", "school_start_date": "2026-12-07",
}
ANSWERS = {"wants_seal": False, "has_child": True, "has_employer_insurance": False, "has_employer_pension": True,
           "care_certified": False, "has_mynumber_card": True, "has_registered_dog": False, "has_dog": False}


@pytest.fixture(scope="module")
def family():
    from core.site import activate, load_site
    from tests.conftest import DEMO_SITE
    activate(load_site(DEMO_SITE))          # module-scoped: before the per-test site fixture runs
    cat = get_catalogue()
    event = cat.event("moving_in")
    found = cat.navigator.suggest("moving_in", Facts.from_values(FAMILY, ANSWERS, today=ON), set(event.procedures))
    procedures = list(dict.fromkeys([*event.required, *(s.procedure for s in found)]))
    wanted = {f.name for f in cat.fields_for(procedures)}
    # the procedures' own answers this family has not given come from the printing tests' visit
    data = {"procedures": procedures, **{k: v for k, v in VISIT.items() if k in wanted}, **FAMILY}
    data = {k: v for k, v in data.items() if k == "procedures" or k in wanted}
    _, values = parse_application(data, cat)     # what every surface accepts
    pdf = render_application({"procedures": procedures, **values}, APP_ID, on=ON)
    folder = OUTPUT / "family"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "family.pdf").write_bytes(pdf)
    for old in folder.glob("page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(folder / "family.pdf"), str(folder / "page")], check=True)
    return procedures, values, pdf


def test_the_guide_finds_the_familys_forms(family):
    procedures, _, _ = family
    assert procedures[0] == "juminido"
    assert {"kokuho_shutoku", "jido_teate", "kodomo_iryo", "tennyugaku", "mynumber_card_slip"} <= set(procedures)
    assert "kouki_koureisha" not in procedures and "inkan_toroku" not in procedures


def pages_by_procedure(pdf: bytes, procedures: list[str]) -> dict[str, object]:
    doc = pdfplumber.open(io.BytesIO(pdf))
    assert len(doc.pages) == len(procedures)     # one page each: no household overflows its table
    return dict(zip(procedures, doc.pages, strict=True))


def test_every_value_of_every_form_is_inside_its_box(family):
    procedures, values, pdf = family
    cat = get_catalogue()
    pages = pages_by_procedure(pdf, procedures)
    for pid, page in pages.items():
        checked = 0
        for f in layout_raw(pid)["fields"]:
            src = f.get("source")
            if f["type"] not in ("text", "kana", "multiline", "cells", "date") or src not in values:
                continue
            w = f.get("w") or f["n"] * f["cell_w"] + f.get("gap", 3.0) * len(f.get("gap_after", []))
            want = values[src]
            if f.get("format") == "choice":
                want = f.get("labels", {}).get(want) or cat.field(src).choice_label(want, "ja")
            assert text_in(page, f["x"], f["y"], w, f["h"]) == squash(expected_text(f, want)), f"{pid}: {src}"
            checked += 1
        assert checked >= (6 if len(cat.get(pid).person_fields) > 1 else 1), pid


def test_the_notice_of_moving_in_names_the_head_the_relationships_and_the_residence_card(family):
    procedures, values, pdf = family
    page = pages_by_procedure(pdf, procedures)["juminido"]
    raw = {f.get("source"): f for f in layout_raw("juminido")["fields"]}

    def at(source):
        f = raw[source]
        return text_in(page, f["x"], f["y"], f["w"], f["h"])
    assert at("@head_of_household") == "NGUYENVanAn" and at("@relationship_to_head") == "世帯主"
    assert at("residence_status") == "技術・人文知識・国際業務" and at("residence_card_number") == "AB12345678CD"
    assert at("nationality_region") == "ベトナム" and at("@addressee") == "架空市長あて"
    table = raw["household"]
    x_rel = table["x"] + sum(c["w"] for c in table["columns"][:-1])
    body = table["y"] + table["header_h"]
    for i, member in enumerate(values["household"]):
        row = text_in(page, table["x"], body + i * table["row_h"], x_rel - table["x"], table["row_h"])
        assert squash(member["name"]) in row
        rel = text_in(page, x_rel, body + i * table["row_h"], table["columns"][-1]["w"], table["row_h"])
        assert rel == relationship_word(member["relationship"], member["sex"])   # 妻, 子, 子
    text = page.extract_text()
    assert "NGUYEN Van An" in text and "NGUYEN　" not in text          # a Latin name keeps its space


def test_every_page_is_a_picture_with_the_form_on_it(family):
    procedures, _, _ = family
    import cv2
    pictures = sorted((OUTPUT / "family").glob("page-*.png"))
    assert len(pictures) == len(procedures)
    for picture in pictures:
        image = cv2.imread(str(picture), cv2.IMREAD_GRAYSCALE)
        assert image.shape[0] > image.shape[1]                     # A4 portrait
        ink = (image < 128).mean()
        assert 0.02 < ink < 0.4, (picture.name, ink)              # a drawn form, not blank or black
