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
from core.forms import parse_application, relationship_to_person
from core.japanese import format_wareki
from core.navigator import Facts
from printing import render_form
from printing.fields import SEX_LABELS, relationship_word
from printing.layout import load_layout
from tests.conftest import DEMO_SITE
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
    "inu_henko": {"inu_henko_kind": "tennyu", "inu_henko_date": "2025-03-21", "inu_henko_dog_name": "ポチ",
                  "inu_henko_breed": "柴犬", "inu_henko_colour": "赤茶", "inu_henko_dog_sex": "male",
                  "inu_henko_dog_born": "2019年5月", "inu_henko_registration_number": "札第12345号",
                  "inu_henko_vaccination_number": "R7-0456", "inu_henko_previous_city": "北海道札幌市",
                  "inu_henko_tag_returned": True,
                  "inu_henko_previous_address": "北海道札幌市中央区北一条西二丁目1番地　札幌マンション203号室"},
}
NEW = list(SAMPLES)


def application(pid: str, **changes) -> dict:
    """The sample visitor's entry for one form: the person fields that form asks, and its own."""
    person = {k: v for k, v in PERSON.items() if k in get_catalogue().get(pid).person_fields}
    return {**person, "procedures": [pid], **SAMPLES[pid], **changes}


@pytest.fixture(scope="module")
def pages():
    # a module's fixture comes before the function's demo_site: the forms name the demo city only
    # when its site is active, which a file run alone has not done yet
    from core.site import activate, load_site
    activate(load_site(DEMO_SITE))
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
                    rel = member["relationship"]
                    if f["columns"][-1].get("seen_from") == "person":      # to the person filing, not the head
                        rel = relationship_to_person(rel, data.get("relationship_to_head"))
                    assert row["relationship"] == relationship_word(rel, member.get("sex"))
                assert all(v == "" for row in rows[len(data["household"]):] for v in row.values())
                if f["columns"][-1].get("seen_from") == "person":
                    checked.add("relationship_to_head")       # printed through the members' 続柄
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
    assert len(titles) == 4 and "Receptionslip" in titles[3]      # the forms, then the kiosk's slip
    assert "国民健康保険資格取得届" in titles[1] and "マイナンバーカード継続利用" in titles[2]


# ------------------------------------------------------------------------------ 犬の登録事項変更届

LANGS = {"ja", "en", "zh", "ko", "vi", "pt", "ja-easy"}

# Which of inu_henko's rows each kind of change asks; the dog's own rows are asked for every kind.
INU_ROWS = {
    "tennyu": {"inu_henko_date", "inu_henko_previous_city", "inu_henko_tag_returned", "inu_henko_previous_address"},
    "address": {"inu_henko_date", "inu_henko_previous_address"},
    "name": {"inu_henko_date", "inu_henko_previous_name"},
    "owner": {"inu_henko_date", "inu_henko_previous_owner_name", "inu_henko_previous_owner_address"},
    "death": {"inu_henko_death_date"},
}
INU_EVERY_KIND = {"inu_henko_kind", "inu_henko_dog_name", "inu_henko_breed", "inu_henko_colour", "inu_henko_dog_sex",
                  "inu_henko_dog_born", "inu_henko_registration_number", "inu_henko_vaccination_number"}
# Every row filled, whatever the kind: what a visitor who changed the kind afterwards might leave behind.
INU_EVERYTHING = {**SAMPLES["inu_henko"], "inu_henko_death_date": "2025-03-30",
                  "inu_henko_previous_name": "佐藤\u3000𠮷子",
                  "inu_henko_previous_owner_name": "山田\u3000太郎",
                  "inu_henko_previous_owner_address": "架空県架空市南町二丁目3番4号"}


def texts_of(node, where: str = "") -> list[tuple[str, dict]]:
    """Every language table (a table with a `ja` key) in a procedure file, with where it is."""
    if isinstance(node, dict):
        if "ja" in node:
            return [(where, node)]
        return [t for k, v in node.items() for t in texts_of(v, f"{where}.{k}")]
    if isinstance(node, list):
        return [t for i, v in enumerate(node) for t in texts_of(v, f"{where}[{i}]")]
    return []


def test_the_dog_notification_loads_with_every_language():
    import tomllib

    from core.catalogue import BUILTIN_DIR
    raw = tomllib.loads((BUILTIN_DIR / "inu_henko.toml").read_text("utf-8"))
    texts = texts_of(raw)
    assert len(texts) > 40
    for where, table in texts:
        assert set(table) == LANGS, where
        assert all(table[lang] for lang in LANGS), where
    proc = get_catalogue().get("inu_henko")
    assert proc.title("ja") == "犬の登録事項変更届" and proc.fee == 0 and not proc.needs_individual_number
    assert proc.section["ja"] == "環境衛生課"
    assert {f.name for f in proc.fields} == INU_EVERY_KIND | set().union(*INU_ROWS.values())
    bring = proc.what_to_bring
    assert "鑑札" in bring["ja"][0] and "注射済票" in bring["ja"][1] and "本人確認書類" in bring["ja"][2]
    assert "dog tag" in bring["en"][0]
    for event in ("moving_in", "moving_within"):
        assert "inu_henko" in get_catalogue().event(event).procedures
        assert "inu_henko" not in get_catalogue().event(event).required
    # the demo city sends its visitors with these forms to the 環境衛生課's window
    from core.site import load_site
    site = load_site(DEMO_SITE)
    assert [s.window for s in site.sections_for("inu_henko")] == ["21"]
    assert [s.id for s in site.sections_for("inu_henko", "minami")] == ["madoguchi"]


@pytest.mark.parametrize("kind", list(INU_ROWS))
def test_the_dog_rows_are_asked_only_for_their_kind_of_change(kind):
    cat = get_catalogue()
    data = {"inu_henko_kind": kind}
    asked = {f.name for f in cat.get("inu_henko").fields if f.applies(data)}
    assert asked == INU_EVERY_KIND | INU_ROWS[kind]
    # an answer of another kind is refused, not kept; what the kind asks is required (but the tag brought)
    everything = application("inu_henko", **{**INU_EVERYTHING, "inu_henko_kind": kind})
    with pytest.raises(ValidationError) as e:
        parse_application(everything, cat, complete=True)
    assert {err.field for err in e.value.errors} == set().union(*INU_ROWS.values()) - INU_ROWS[kind]
    own = {k: v for k, v in everything.items() if not k.startswith("inu_henko_") or k in asked}
    _procedures, values = parse_application(own, cat, complete=True)
    assert {k for k in values if k.startswith("inu_henko_")} == asked
    for name in INU_ROWS[kind] - {"inu_henko_tag_returned"}:
        with pytest.raises(ValidationError) as e:
            parse_application({k: v for k, v in own.items() if k != name}, cat, complete=True)
        assert (name, "required") in [(err.field, err.code) for err in e.value.errors]


@pytest.mark.parametrize("kind", list(INU_ROWS))
def test_the_dog_form_prints_the_rows_of_its_kind_in_their_boxes_and_leaves_the_others_blank(kind):
    data = application("inu_henko", **{**INU_EVERYTHING, "inu_henko_kind": kind})
    pdf = render_form("inu_henko", data, APP_ID, on=ON)
    layout = load_layout("inu_henko")
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        assert "犬の登録事項変更届" in squash(page.extract_text())
        for f, lf in zip(layout_raw("inu_henko")["fields"], layout.fields, strict=True):
            src = f.get("source", "")
            if not src.startswith("inu_henko_"):
                continue
            shown = src in INU_EVERY_KIND or src in INU_ROWS[kind]
            if f["type"] in ("text", "multiline", "date"):
                expected = squash(expected_text(f, data[src])) if shown else ""
                assert text_in(page, f["x"], f["y"], f["w"], f["h"]) == expected, src
            elif f["type"] == "choice":
                for option, (mark, _label) in lf.geometry().items():
                    assert marks_in(page, (mark.x, mark.y, mark.w, mark.h)) == (option == data[src]), (src, option)
            elif f["type"] == "check":
                assert marks_in(page, (f["x"], f["y"], 3.4, 3.4)) == (1 if shown else 0), src
    # the values a visitor reads back: the kind's rows, by their Japanese texts
    text = squash(page_text(pdf))
    assert ("札幌マンション203号室" in text) is (kind in ("tennyu", "address"))
    assert ("山田太郎" in text) is (kind == "owner")
    assert ("佐藤𠮷子" in text) is (kind == "name")


def page_text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return doc.pages[0].extract_text()


@pytest.mark.parametrize("changes, field, code", [
    ({"inu_henko_date": TOMORROW}, "inu_henko_date", "date_in_future"),
    ({"inu_henko_kind": "death", "inu_henko_death_date": TOMORROW}, "inu_henko_death_date", "date_in_future"),
    ({"inu_henko_kind": "lost"}, "inu_henko_kind", "bad_choice"),
    ({"inu_henko_dog_sex": "unknown"}, "inu_henko_dog_sex", "bad_choice"),
    ({"inu_henko_dog_name": None}, "inu_henko_dog_name", "required"),
    ({"inu_henko_dog_name": "ポ" * 21}, "inu_henko_dog_name", "too_long"),
])
def test_bad_dog_answers_are_refused_naming_the_field(changes, field, code):
    data = {k: v for k, v in {**application("inu_henko"), **changes}.items() if v is not None}
    with pytest.raises(ValidationError) as e:
        parse_application(data, get_catalogue(), complete=True)
    assert (field, code) in [(err.field, err.code) for err in e.value.errors]


@pytest.mark.parametrize("event", ["moving_in", "moving_within"])
def test_a_registered_dog_brings_the_dog_notification_with_its_reason(event):
    facts = Facts(birth_date="1985-04-01", today=TODAY)
    assert "has_registered_dog" in asked(facts, event)
    assert "inu_henko" not in suggested(facts, event)
    facts.answers["has_registered_dog"] = False
    assert "inu_henko" not in suggested(facts, event)
    facts.answers["has_registered_dog"] = True
    assert "inu_henko" in suggested(facts, event)
    cat = get_catalogue()
    [suggestion] = [s for s in cat.navigator.suggest(event, facts, set(cat.event(event).procedures))
                    if s.procedure == "inu_henko"]
    [reason] = suggestion.reasons
    assert set(reason) == LANGS and "30日以内" in reason["ja"] and "30 days" in reason["en"]
    assert set(cat.navigator.questions["has_registered_dog"].text) == LANGS
    assert set(cat.navigator.questions["has_registered_dog"].hint) == LANGS


def test_in_the_demo_city_a_dog_never_registered_is_registered_and_a_registered_one_notified():
    """The demo's inu_toroku (its own form) is for a dog never registered; one with a 鑑札 that
    moves in is the built-in notification: one of the two, by the answers."""
    registered = Facts(birth_date="1985-04-01", answers={"has_registered_dog": True, "has_dog": False}, today=TODAY)
    assert "inu_henko" in suggested(registered) and "inu_toroku" not in suggested(registered)
    new_dog = Facts(birth_date="1985-04-01", answers={"has_registered_dog": False, "has_dog": True}, today=TODAY)
    assert "inu_toroku" in suggested(new_dog) and "inu_henko" not in suggested(new_dog)
    assert asked(registered)[-2:] == ["has_registered_dog", "has_dog"]
    # moving within the city: only the notification (the demo asks about a new dog on moving in only)
    assert "has_dog" not in asked(registered, "moving_within")


def test_without_a_site_the_built_in_guide_asks_about_a_registered_dog(tmp_path):
    from core.catalogue import load_catalogue
    cat = load_catalogue()
    assert "inu_toroku" not in cat.procedures and "has_dog" not in cat.navigator.questions
    facts = Facts(birth_date="1985-04-01", answers={"has_registered_dog": True}, today=TODAY)
    offered = set(cat.event("moving_in").procedures)
    assert "has_registered_dog" in [q.id for q in cat.navigator.questions_for("moving_in", facts, offered)]
    assert "inu_henko" in [s.procedure for s in cat.navigator.suggest("moving_in", facts, offered)]


def test_a_kiosk_visitor_whose_dog_changed_owner_is_asked_the_previous_owner_not_the_previous_city(kiosk, tmp_path):
    kiosk.start("ja")
    kiosk.read_card()
    kiosk.choose("moving_within", ["inu_henko"])
    asked_names = kiosk.answer_all({
        "inu_henko_kind": {"value": "owner"},
        "inu_henko_date": {"era": "western", "year": "2026", "month": "11", "day": "1"},
        "inu_henko_dog_name": {"value": "ポチ"}, "inu_henko_breed": {"value": "柴犬"},
        "inu_henko_colour": {"value": "白"}, "inu_henko_dog_sex": {"value": "female"},
        "inu_henko_previous_owner_name": {"value": "山田\u3000花子"},
        "inu_henko_previous_owner_address": {"value": "架空県架空市南町二丁目3番4号"},
    })
    assert {"inu_henko_kind", "inu_henko_date", "inu_henko_previous_owner_name",
            "inu_henko_previous_owner_address"} <= set(asked_names)
    assert not {"inu_henko_previous_city", "inu_henko_previous_address", "inu_henko_death_date",
                "inu_henko_tag_returned"} & set(asked_names)
    r = kiosk.print_and_wait()
    assert r.request.path == "/kiosk/done", kiosk.text
    assert "環境衛生課" in kiosk.text
    [pdf] = list((tmp_path / "var" / "printed").glob("*.pdf"))
    text = squash(page_text(pdf.read_bytes()))
    assert "犬の登録事項変更届" in text and "山田花子" in text and "柴犬" in text
