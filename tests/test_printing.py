"""Rendering forms: every value on its page in its box, every character in an embedded font,
errors naming the field, layouts a city adds as files, and pictures to look at."""
from __future__ import annotations

import io
import json
import re
import subprocess
import tomllib
from datetime import date
from pathlib import Path

import pdfplumber
import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from core.application import form_code
from core.catalogue import BUILTIN_DIR, get_catalogue, load_catalogue
from core.forms import relationship_to_person
from core.japanese import format_postal_code, format_wareki, wareki_parts
from printing import LayoutError, MalformedValue, MissingGlyph, render_application, render_form
from printing.fields import SEX_LABELS, relationship_word
from printing.layout import background_pdf, load_layout
from tests.helpers import OUTPUT, madoguchi

MM = 72 / 25.4
APP_ID = "0123456789ABCDEF"
ON = date(2025, 4, 1)
LAYOUTS = BUILTIN_DIR / "layouts"
PROCEDURES = list(get_catalogue().procedures)

VISIT = {
    "procedures": ["juminido", "jido_teate", "inkan_toroku", "inkan_shomei", "zei_shomei", "juminhyo",
                   "kokuho_shutoku", "kokuho_soshitsu", "nenkin", "kouki_koureisha",
                   "kaigo_hoken", "tennyugaku", "kodomo_iryo", "koseki_shomei",
                   "inkan_haishi", "mynumber_card_slip", "inu_henko"],
    "name": "髙橋\u3000𠮷子", "kana": "タカハシ\u3000ヨシコ", "birth_date": "1985-04-01", "sex": "female",
    "postal_code": "1000001", "address": "東京都千代田区千代田１－１　パークハイツ千代田１０１号室",
    "phone": "03-1234-5678",
    "household": [
        {"name": "髙橋\u3000太郎", "kana": "タカハシ\u3000タロウ", "birth_date": "1983-09-12", "sex": "male",
         "relationship": "head"},
        {"name": "髙橋\u3000﨑人", "kana": "タカハシ\u3000サキト", "birth_date": "2015-06-30", "sex": "male",
         "relationship": "child"},
        {"name": "髙橋\u3000花", "kana": "タカハシ\u3000ハナ", "birth_date": "2019-05-01", "sex": "female",
         "relationship": "child"}],
    "move_type": "tennyu", "move_date": "2025-04-01", "previous_postal_code": "0600000",
    "previous_address": "北海道札幌市中央区北１条西２丁目３番地４　グランドメゾン札幌５０２",
    "relationship_to_head": "spouse", "nationality_kind": "japanese",
    "honseki": "北海道札幌市中央区北１条西２丁目１番地", "hittousha": "髙橋\u3000太郎", "notifier_type": "self",
    "pension_type": "kosei", "spouse_name": "髙橋\u3000太郎", "jido_payment": "account", "jido_older_children": 1,
    "bank_name": "みずほ銀行", "bank_branch": "千代田",
    "account_type": "futsu", "account_number": "1234567", "account_holder_kana": "タカハシ\u3000ヨシコ",
    "inkan_method": "same_day", "guarantor_name": "山田\u3000花子", "guarantor_address": "東京都千代田区丸の内１－１",
    "guarantor_registration_number": "A123456",
    "inkan_card_number": "0012345", "inkan_shomei_copies": 1,
    "tax_certificate_type": "shotoku", "tax_fiscal_year": 2025, "tax_copies": 2, "tax_purpose": "childcare",
    "juminhyo_scope": "household", "juminhyo_copies": 3, "juminhyo_include_head": True, "juminhyo_purpose": "bank",
    "kokuho_join_reason": "tennyu", "kokuho_join_date": "2025-04-01", "kokuho_head_joins": True,
    "kokuho_leave_reason": "tenshutsu", "kokuho_leave_date": "2025-04-01", "kokuho_head_leaves": True,
    "nenkin_kind": "shutoku", "nenkin_join_reason": "from_abroad", "nenkin_date": "2025-04-01",
    "nenkin_basic_number": "1234567890",
    "kouki_reason": "tennyu", "kouki_date": "2025-04-01", "kouki_certificate": True,
    "kaigo_insured_type": "dai1go", "kaigo_date": "2025-04-01", "kaigo_certificate": False,
    "kaigo_previous_city": "北海道札幌市",
    "school_child_name": "髙橋\u3000﨑人", "school_child_kana": "タカハシ\u3000サキト",
    "school_child_birth_date": "2015-06-30",
    "school_child_sex": "male", "school_guardian_relationship": "mother", "school_kind": "shogakko", "school_grade": 4,
    "school_previous": "札幌市立中央小学校", "school_start_date": "2025-04-08",
    "kodomo_insurance_kind": "kokuho", "kodomo_insured_person": "髙橋\u3000太郎",
    "koseki_where": "this_city", "koseki_honseki": "架空県架空市中央一丁目1番地", "koseki_hittosha": "髙橋\u3000太郎",
    "koseki_relationship": "self", "koseki_type": "shohon", "koseki_copies": 1, "koseki_purpose": "pension",
    "inkan_haishi_reason": "card_lost", "inkan_haishi_card_number": "0012345", "inkan_card_returned": False,
    "inu_henko_kind": "tennyu", "inu_henko_date": "2025-04-01", "inu_henko_dog_name": "モモ", "inu_henko_breed": "柴犬",
    "inu_henko_colour": "赤", "inu_henko_dog_sex": "female", "inu_henko_registration_number": "札第12345号",
    "inu_henko_previous_city": "北海道札幌市", "inu_henko_tag_returned": True,
    "inu_henko_previous_address": "北海道札幌市中央区北１条西２丁目３番地４　グランドメゾン札幌５０２",
}


def squash(s: str) -> str:
    return "".join(s.split())


def layout_raw(pid: str) -> dict:
    return tomllib.loads((LAYOUTS / f"{pid}.toml").read_text("utf-8"))


def value_chars(page, x, y, w, h):
    """Characters the renderer printed (Mincho values, not the Gothic labels of the blank
    form) whose centre lies inside the box given in millimetres from the top-left corner."""
    out = []
    for ch in page.chars:
        cx, cy = (ch["x0"] + ch["x1"]) / 2, (ch["top"] + ch["bottom"]) / 2
        if "Mincho" in ch["fontname"] and x * MM <= cx <= (x + w) * MM and y * MM <= cy <= (y + h) * MM:
            out.append(ch)
    return out


def text_in(page, x, y, w, h) -> str:
    chars = sorted(value_chars(page, x, y, w, h), key=lambda c: (round(c["top"] / 3), c["x0"]))
    return squash("".join(c["text"] for c in chars))


def all_value_text(page) -> str:
    return text_in(page, 0, 0, 1000, 1000)


def expected_text(f: dict, value) -> str:
    fmt = f.get("format")
    if fmt == "wareki_year":
        return {2025: "令和7"}[value]
    if f["type"] == "cells":
        s = str(value)
        return "".join(ch for ch in s if ch.isdigit()) if f.get("chars", "digits") == "digits" else s
    if f.get("format") == "postal":
        return format_postal_code(value)
    if f["type"] == "date":
        if f.get("style") == "text":
            return format_wareki(date.fromisoformat(value))
        era, y, m, d = wareki_parts(date.fromisoformat(value))
        return ("" if f.get("style", "parts") == "eras" else era) + f"{y}{m}{d}"
    return str(value)


@pytest.fixture(scope="module")
def visit_pdf():
    pdf = render_application(VISIT, APP_ID, on=ON)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "printing-visit.pdf").write_bytes(pdf)
    return pdf


# ------------------------------------------------------------------------------ values in place

def test_the_visit_prints_every_form_in_procedure_order(visit_pdf):
    with pdfplumber.open(io.BytesIO(visit_pdf)) as pdf:
        titles = [squash(p.extract_text()) for p in pdf.pages]
    cat = get_catalogue()
    assert len(titles) == len(VISIT["procedures"])
    for text, pid in zip(titles, VISIT["procedures"], strict=True):
        assert squash(cat.get(pid).title("ja")) in text


@pytest.mark.parametrize("pid", PROCEDURES)
def test_each_value_is_on_its_page_inside_its_box(visit_pdf, pid):
    page_no = VISIT["procedures"].index(pid)
    raw = layout_raw(pid)
    checked = 0
    with pdfplumber.open(io.BytesIO(visit_pdf)) as pdf:
        page = pdf.pages[page_no]
        for f in raw["fields"]:
            src = f.get("source")
            if f["type"] in ("text", "kana", "multiline", "cells", "date") and src in VISIT:
                if f["type"] == "cells":
                    w = f["n"] * f["cell_w"] + f.get("gap", 3.0) * len(f.get("gap_after", []))
                else:
                    w = f["w"]
                got = text_in(page, f["x"], f["y"], w, f["h"])
                assert got == squash(expected_text(f, VISIT[src])), f"{pid}: {src}"
                checked += 1
        # every form carries the person and its own answers; a slip only the name
        assert checked >= (7 if len(get_catalogue().get(pid).person_fields) > 1 else 1)
        # the application date of the form is today's (here: the day given), in 和暦
        today = next(f for f in raw["fields"] if f.get("source") == "@today")
        assert text_in(page, today["x"], today["y"], today["w"], today["h"]) == "令和741"


@pytest.mark.parametrize("pid", ["juminido", "jido_teate"])
def test_household_rows_hold_each_member(visit_pdf, pid):
    raw = layout_raw(pid)
    table = next(f for f in raw["fields"] if f["type"] == "household")
    with pdfplumber.open(io.BytesIO(visit_pdf)) as pdf:
        page = pdf.pages[VISIT["procedures"].index(pid)]
        for i, member in enumerate(VISIT["household"]):
            y = table["y"] + table["header_h"] + i * table["row_h"]
            x = table["x"]
            row = {}
            for col in table["columns"]:
                row[col["key"]] = text_in(page, x, y, col["w"], table["row_h"])
                x += col["w"]
            assert row["name"] == squash(member["kana"] + member["name"])
            assert row["birth_date"] == format_wareki(date.fromisoformat(member["birth_date"]))
            assert row["sex"] == SEX_LABELS[member["sex"]]
            rel = member["relationship"]
            if table["columns"][-1].get("seen_from") == "person":      # 請求者との続柄: the head is her 夫
                rel = relationship_to_person(rel, VISIT["relationship_to_head"])
            assert row["relationship"] == relationship_word(rel, member.get("sex"))
        y = table["y"] + table["header_h"] + len(VISIT["household"]) * table["row_h"]
        assert text_in(page, table["x"], y, 180, table["row_h"] * (table["rows"] - 3)) == ""


def marks_in(page, box) -> int:
    """Paths drawn by the renderer (✓ and circles are curves) inside a box in millimetres."""
    x, y, w, h = box
    return sum(1 for c in page.curves
               if c["x0"] >= x * MM - 1 and c["x1"] <= (x + w) * MM + 1
               and c["top"] >= y * MM - 1 and c["bottom"] <= (y + h) * MM + 1)


@pytest.mark.parametrize("pid, source", [("juminido", "move_type"), ("juminido", "sex"), ("jido_teate", "pension_type"),
                                         ("jido_teate", "account_type"), ("inkan_toroku", "inkan_method"),
                                         ("zei_shomei", "tax_certificate_type"), ("zei_shomei", "tax_purpose"),
                                         ("juminhyo", "juminhyo_scope"), ("juminhyo", "juminhyo_purpose")])
def test_the_chosen_label_and_only_it_is_marked(visit_pdf, pid, source):
    layout = load_layout(pid)
    field = next(f for f in layout.fields if f.source == source)
    with pdfplumber.open(io.BytesIO(visit_pdf)) as pdf:
        page = pdf.pages[VISIT["procedures"].index(pid)]
        for option, (mark, _label) in field.geometry().items():
            expected = 1 if option == VISIT[source] else 0
            assert marks_in(page, (mark.x, mark.y, mark.w, mark.h)) == expected, option


def test_checkboxes_tick_only_true_answers(visit_pdf):
    raw = layout_raw("juminhyo")
    with pdfplumber.open(io.BytesIO(visit_pdf)) as pdf:
        page = pdf.pages[VISIT["procedures"].index("juminhyo")]
        for f in raw["fields"]:
            if f["type"] == "check":
                s = f.get("box_size", 3.4)
                assert marks_in(page, (f["x"], f["y"], s, s)) == (1 if VISIT.get(f["source"]) else 0), f["source"]


def test_the_birth_era_is_circled_and_the_individual_number_boxes_stay_blank(visit_pdf):
    layout = load_layout("jido_teate")
    birth = next(f for f in layout.fields if f.source == "birth_date")
    with pdfplumber.open(io.BytesIO(visit_pdf)) as pdf:
        page = pdf.pages[VISIT["procedures"].index("jido_teate")]
        for era, b in birth.era_label_boxes().items():
            assert marks_in(page, (b.x - 2, b.y - 0.5, b.w + 4, b.h + 1)) == (1 if era == "昭和" else 0), era
        number_row = next(d for d in layout.draw if d["kind"] == "cells")
        assert text_in(page, number_row["x"], number_row["y"], 90, number_row["h"]) == ""


# ------------------------------------------------------------------------------ every character prints

def embedded_glyphs(pdf_bytes: bytes) -> dict[str, set[str]]:
    """Font name → characters that font can really draw: mapped by its ToUnicode CMap to a
    code whose glyph in the embedded subset has an outline (not .notdef, not empty)."""
    reader = PdfReader(io.BytesIO(pdf_bytes))
    out: dict[str, set[str]] = {}

    def visit(resources):
        for ref in (resources.get("/Font") or {}).values():
            font = ref.get_object()
            base = str(font["/BaseFont"])[1:]
            desc = font.get("/FontDescriptor")
            if desc is None or "/FontFile2" not in desc.get_object():
                continue
            tt = TTFont(io.BytesIO(desc.get_object()["/FontFile2"].get_object().get_data()))
            cmap = tt["cmap"].getcmap(1, 0).cmap            # subset code → glyph name
            glyf = tt["glyf"]
            tounicode = font["/ToUnicode"].get_object().get_data().decode("latin-1")
            bfchars = "".join(re.findall(r"beginbfchar(.*?)endbfchar", tounicode, re.S))
            drawable = out.setdefault(base, set())
            for code, hexs in re.findall(r"<([0-9A-F]{2})> <([0-9A-F]+)>", bfchars):
                gname = cmap.get(int(code, 16))
                text = bytes.fromhex(hexs).decode("utf-16-be")
                g = glyf[gname] if gname else None
                if gname and gname != ".notdef" and g is not None and (g.numberOfContours != 0 or text.isspace()):
                    drawable.add(text)
        for ref in (resources.get("/XObject") or {}).values():
            xo = ref.get_object()
            if "/Resources" in xo:
                visit(xo["/Resources"].get_object())

    for page in reader.pages:
        visit(page["/Resources"].get_object())
    return out


def test_every_character_of_every_form_is_drawn_by_an_embedded_font(visit_pdf):
    drawable = embedded_glyphs(visit_pdf)
    assert any(name.endswith("IPAmjMincho") for name in drawable)   # 𠮷 came from IPAmj明朝
    checked = 0
    with pdfplumber.open(io.BytesIO(visit_pdf)) as pdf:
        for page in pdf.pages:
            for ch in page.chars:
                if ch["text"].isspace():
                    continue
                assert ch["text"] in drawable[ch["fontname"]], (ch["text"], ch["fontname"])
                assert ch["text"] not in ("〓", "\ufffd")
                checked += 1
            text = page.extract_text()
            assert "(cid:" not in text
    assert checked > 2000
    names = "".join(ch for f in drawable.values() for ch in f)
    for hard in ("𠮷", "髙", "﨑"):
        assert hard in names


@pytest.mark.parametrize("name", ["𠮷野\u3000髙﨑", "渡邊\u3000邉", "Nguyễn Văn Ân", "João Ção",
                                  "葛\U000E0102飾\u3000辻\U000E0103"])
def test_unusual_names_print_with_a_font_that_has_them(name):
    pdf = render_form("juminhyo", {"name": name}, APP_ID)
    layout = layout_raw("juminhyo")
    box = next(f for f in layout["fields"] if f.get("source") == "name")
    drawable = embedded_glyphs(pdf)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        # every font inside the box (DejaVu draws the Vietnamese letters IPA fonts lack)
        inside = [c for c in doc.pages[0].chars
                  if box["x"] * MM <= (c["x0"] + c["x1"]) / 2 <= (box["x"] + box["w"]) * MM
                  and box["y"] * MM <= (c["top"] + c["bottom"]) / 2 <= (box["y"] + box["h"]) * MM]
    assert squash("".join(c["text"] for c in inside)) == squash(name)
    for c in inside:
        assert c["text"] in drawable[c["fontname"]]


@pytest.mark.parametrize("data, field, character", [
    ({"name": "山田\u3000😀"}, "name", "😀"),
    ({"address": "東京都\ue000町"}, "address", "\ue000"),
    ({"household": [{"name": "山田\u3000一", "birth_date": "2000-01-01"}, {"name": "山田\u3000\U0010fffd"}]},
     "household[1].name", "\U0010fffd"),
    ({"name": "葛\U000E0100"}, "name", "葛\U000E0100"),   # a variant IPAmj明朝 does not have
])
def test_a_character_no_font_has_stops_the_render_naming_it_and_the_field(data, field, character):
    pid = "juminido" if "household" in data else "juminhyo"
    with pytest.raises(MissingGlyph) as e:
        render_form(pid, data, APP_ID)
    assert e.value.code == "missing_glyph"
    assert (e.value.field, e.value.character) == (field, character)
    assert f"U+{ord(character[-1]):04X}" in str(e.value)


# ------------------------------------------------------------------------------ malformed and absent

@pytest.mark.parametrize("pid, data, field", [
    ("juminhyo", {"birth_date": "1999-02-30"}, "birth_date"),
    ("juminhyo", {"postal_code": "100-000A"}, "postal_code"),
    ("juminhyo", {"juminhyo_copies": "two"}, "juminhyo_copies"),
    ("juminhyo", {"juminhyo_scope": "everyone"}, "juminhyo_scope"),
    ("juminhyo", {"kana": "Takahashi"}, "kana"),
    ("juminido", {"household": [{"name": "山田", "birth_date": "2000-13-01"}]}, "household[0].birth_date"),
    ("juminido", {"household": [{"name": "山田", "relationship": "cousin"}]}, "household[0].relationship"),
    ("juminido", {"household": "山田"}, "household"),
    ("jido_teate", {"jido_payment": "account", "account_number": "123456789"}, "account_number"),
])
def test_a_malformed_value_stops_the_render_naming_the_field(pid, data, field):
    with pytest.raises(MalformedValue) as e:
        render_form(pid, data)
    assert e.value.code == "malformed_value" and e.value.field == field
    for v in data.values():  # values are personal data: never in the message
        if isinstance(v, str) and len(v) > 2 and v not in field:
            assert v not in str(e.value)


def test_a_value_with_more_characters_than_cells_is_malformed(tmp_path):
    d = city_form(tmp_path)
    (d / "layouts" / "city_permit.toml").write_text(
        'page = "A4"\n[[fields]]\ntype = "cells"\nsource = "inkan_card_number"\nchars = "any"\n'
        'n = 4\ncell_w = 6\nx = 20\ny = 20\nh = 8\n', encoding="utf-8")
    catalogue = load_catalogue([d])
    render_form("city_permit", {"inkan_card_number": "A123"}, catalogue=catalogue)
    with pytest.raises(MalformedValue) as e:
        render_form("city_permit", {"inkan_card_number": "A1234"}, catalogue=catalogue)
    assert e.value.field == "inkan_card_number" and e.value.reason == "too_many_characters"


def test_absent_values_leave_their_boxes_blank():
    pdf = render_form("juminido", {"name": "山田\u3000太郎"}, APP_ID, on=ON)
    raw = layout_raw("juminido")
    box = next(f for f in raw["fields"] if f.get("source") == "name")
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        assert text_in(page, box["x"], box["y"], box["w"], box["h"]) == "山田太郎"
        # the site's addressee, the date of the form, the name: nothing else
        assert all_value_text(page) == "架空市長あて令和741山田太郎"
        assert len(page.curves) == 0  # no ✓, no circle


def test_answers_that_do_not_apply_are_not_printed():
    data = {"move_type": "tenshutsu", "previous_address": "北海道札幌市", "new_address": "大阪府大阪市北区"}
    pdf = render_form("juminido", data)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        text = all_value_text(doc.pages[0])
    assert "大阪府大阪市北区" in text and "札幌" not in text


def test_long_values_shrink_and_wrap_inside_their_boxes():
    name = "寿限無寿限無五劫の擦り切れ海砂利水魚の水行末雲来末風来末食う寝る処に住む処"
    address = "東京都千代田区千代田一丁目一番一号" * 8
    pdf = render_form("juminhyo", {"name": name[:50], "address": address[:200]})
    raw = layout_raw("juminhyo")
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        for src, value in (("name", name[:50]), ("address", address[:200])):
            f = next(f for f in raw["fields"] if f.get("source") == src)
            inside = value_chars(page, f["x"], f["y"], f["w"], f["h"])
            assert len(inside) == len(value), src
            for c in inside:  # wholly inside, not just centred
                assert c["x0"] >= f["x"] * MM - 0.5 and c["x1"] <= (f["x"] + f["w"]) * MM + 0.5
                assert c["top"] >= f["y"] * MM - 1 and c["bottom"] <= (f["y"] + f["h"]) * MM + 1


# ------------------------------------------------------------------------------ QR code

def test_the_qr_code_carries_the_form_code_and_the_id_is_printed_beneath(tmp_path):
    import cv2
    import zxingcpp
    pdf = render_form("juminhyo", VISIT, APP_ID)
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-gray", "-png", "-r", "150", "-singlefile", str(path), str(tmp_path / "f")],
                   check=True)
    found = [r.text for r in zxingcpp.read_barcodes(cv2.imread(str(tmp_path / "f.png")))]
    assert found == [form_code(APP_ID)]
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert "0123 4567 89AB CDEF" in doc.pages[0].extract_text()


def test_without_an_application_id_the_code_box_is_a_marked_sample(tmp_path):
    import cv2
    import zxingcpp
    pdf = render_form("juminhyo", VISIT)
    path = tmp_path / "s.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-gray", "-png", "-r", "150", "-singlefile", str(path), str(tmp_path / "s")],
                   check=True)
    assert zxingcpp.read_barcodes(cv2.imread(str(tmp_path / "s.png"))) == []
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        text = doc.pages[0].extract_text()
    assert "見本" in text and "SAMPLE" in text


# ------------------------------------------------------------------------------ tables that overflow

def test_a_household_longer_than_the_table_continues_on_a_sheet_with_the_same_code(tmp_path):
    members = [{"name": f"山田\u3000{n}", "kana": "ヤマダ", "birth_date": "2000-01-0" + str(i % 9 + 1),
                "sex": "male", "relationship": "child"} for i, n in enumerate("一二三四五六七八九十")]
    pdf = render_form("juminido", {"household": members}, APP_ID)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "printing-continuation.pdf").write_bytes(pdf)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert len(doc.pages) == 2
        first, sheet = (squash(p.extract_text()) for p in doc.pages)
    assert "別紙1/1" in sheet and "0123456789ABCDEF" in sheet
    rows = next(f["rows"] for f in layout_raw("juminido")["fields"] if f["type"] == "household")
    for n in "一二三四五六七八九十"[:rows]:
        assert f"山田{n}" in first and f"山田{n}" not in sheet
    for n in "一二三四五六七八九十"[rows:]:
        assert f"山田{n}" in sheet


# ------------------------------------------------------------------------------ layouts as data

def test_every_procedure_has_a_layout_and_renders_blank_on_one_a4_page():
    for pid in PROCEDURES:
        pdf = render_form(pid, {})
        reader = PdfReader(io.BytesIO(pdf))
        assert len(reader.pages) == 1, pid
        box = reader.pages[0].mediabox
        assert (round(float(box.width) / MM), round(float(box.height) / MM)) == (210, 297)


def test_drawn_backgrounds_are_deterministic():
    cat = get_catalogue()
    layout = load_layout("juminido", cat)
    first = background_pdf(layout, cat)
    background_pdf.__globals__["_bg_cache"].clear()
    assert background_pdf(layout, cat) == first


def city_form(tmp_path, *, page=(210, 297)) -> Path:
    """A city's own procedure with its own blank form (a PDF it scanned or drew elsewhere)."""
    from reportlab.pdfgen.canvas import Canvas
    d = tmp_path / "city"
    (d / "layouts").mkdir(parents=True)
    (d / "backgrounds").mkdir()
    src = (BUILTIN_DIR / "inkan_shomei.toml").read_text("utf-8").replace('id = "inkan_shomei"', 'id = "city_permit"')
    (d / "city_permit.toml").write_text(src, encoding="utf-8")
    c = Canvas(str(d / "backgrounds" / "city_permit.pdf"), pagesize=(page[0] * MM, page[1] * MM))
    c.setFont("Helvetica-Bold", 20)
    c.drawString(20 * MM, (page[1] - 20) * MM, "CITY OWN FORM No.7")
    c.rect(20 * MM, (page[1] - 60) * MM, 120 * MM, 15 * MM)
    c.save()
    (d / "layouts" / "city_permit.toml").write_text('''
page = "A4"
background = "backgrounds/city_permit.pdf"

[[fields]]
type = "text"
source = "name"
x = 20
y = 45
w = 120
h = 15
size = 16

[[fields]]
type = "qr"
x = 170
y = 10
w = 25
''', encoding="utf-8")
    return d


def test_a_city_adds_a_form_with_its_own_background_by_adding_files(tmp_path):
    catalogue = load_catalogue([city_form(tmp_path)])
    pdf = render_form("city_permit", {"name": "鈴木\u3000一郎"}, APP_ID, catalogue=catalogue)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "printing-city-form.pdf").write_bytes(pdf)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        assert "CITY OWN FORM No.7" in page.extract_text()
        assert text_in(page, 20, 45, 120, 15) == "鈴木一郎"


def test_a_background_of_another_paper_size_is_a_layout_error(tmp_path):
    catalogue = load_catalogue([city_form(tmp_path, page=(182, 257))])
    with pytest.raises(LayoutError) as e:
        render_form("city_permit", {"name": "鈴木"}, catalogue=catalogue)
    assert "182×257" in str(e.value)


@pytest.mark.parametrize("field, message", [
    ({"type": "text", "source": "no_such_field", "x": 1, "y": 1, "w": 10, "h": 5}, "not a field of procedure"),
    ({"type": "text", "source": "name", "x": 1, "y": 1, "w": 10, "h": 5, "colour": "red"}, "unknown keys"),
    ({"type": "sparkle", "x": 1, "y": 1}, "`type` must be one of"),
    ({"type": "choice", "source": "sex", "x": 1, "y": 1, "w": 10, "h": 5, "options": ["robot"]}, "no choices"),
    ({"type": "date", "source": "name", "x": 1, "y": 1, "w": 10, "h": 5}, "cannot print"),
])
def test_layout_mistakes_are_reported_with_the_file_and_the_entry(tmp_path, field, message):
    d = city_form(tmp_path)
    path = d / "layouts" / "city_permit.toml"
    lines = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in field.items())
    path.write_text(f'page = "A4"\n\n[[fields]]\n{lines}\n', encoding="utf-8")
    with pytest.raises(LayoutError) as e:
        render_form("city_permit", {}, catalogue=load_catalogue([d]))
    assert message in str(e.value) and "city_permit.toml: fields[0]" in str(e.value)


# ------------------------------------------------------------------------------ CLI

def test_cli_renders_a_form_from_the_json(tmp_path, config_file):
    data = tmp_path / "form.json"
    data.write_text(json.dumps(VISIT, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "juminido.pdf"
    r = madoguchi("form", "render", "juminido", "--data", str(data), "--out", str(out), "--application-id", APP_ID,
                  config_file=config_file)
    assert r.returncode == 0, r.stderr
    with pdfplumber.open(out) as doc:
        assert squash("髙橋𠮷子") in squash(doc.pages[0].extract_text())
    out_all = tmp_path / "visit.pdf"
    r = madoguchi("form", "render", "--data", str(data), "--out", str(out_all), config_file=config_file)
    assert r.returncode == 0 and f"{len(VISIT['procedures'])} page(s)" in r.stdout


@pytest.mark.parametrize("data, words", [
    ({"name": "山田\u3000😀"}, ["U+1F600", "name"]),
    ({"birth_date": "1999-02-30"}, ["malformed", "birth_date"]),
])
def test_cli_stops_with_one_line_on_a_missing_glyph_or_malformed_value(tmp_path, config_file, data, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    r = madoguchi("form", "render", "juminhyo", "--data", str(path), "--out", str(tmp_path / "x.pdf"),
                  config_file=config_file)
    assert r.returncode == 1 and not (tmp_path / "x.pdf").exists()
    assert len(r.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in r.stderr


def test_cli_prints_to_the_pdf_folder_by_default(tmp_path, config_file, config):
    path = tmp_path / "form.json"
    path.write_text(json.dumps({"procedures": ["zei_shomei"], **{k: VISIT[k] for k in ("name", "tax_copies")}},
                               ensure_ascii=False), encoding="utf-8")
    r = madoguchi("form", "print", "--data", str(path), config_file=config_file, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "printed on pdf-folder" in r.stdout and "completed" in r.stdout
    printed = list((tmp_path / "var" / "printed").glob("*.pdf"))
    assert len(printed) == 1


@pytest.mark.cups
def test_cli_prints_through_cups_and_waits_for_the_end(tmp_path, config_file, pdf_queue):
    path = tmp_path / "form.json"
    path.write_text(json.dumps(VISIT, ensure_ascii=False), encoding="utf-8")
    r = madoguchi("form", "print", "inkan_shomei", "--data", str(path), "--queue", pdf_queue.name,
                  "--application-id", APP_ID, config_file=config_file)
    assert r.returncode == 0, r.stderr
    job_id = int(r.stdout.split("job ")[1].split()[0])
    assert r.stdout.strip().endswith("completed")
    assert pdf_queue.output_of(job_id).stat().st_size > 1000


# ------------------------------------------------------------------------------ pictures

def test_pictures_of_every_form_to_look_at(visit_pdf):
    """PNGs of the whole visit in tests/output/ (look at them); each page has ink and paper."""
    import cv2
    import numpy as np
    for old in OUTPUT.glob("printing-visit-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "80", str(OUTPUT / "printing-visit.pdf"), str(OUTPUT / "printing-visit")],
                   check=True)
    pngs = sorted(OUTPUT.glob("printing-visit-*.png"))
    assert len(pngs) == len(VISIT["procedures"])
    for p in pngs:
        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        ink = np.count_nonzero(img < 128) / img.size
        assert 0.02 < ink < 0.25, p.name


def test_rare_characters_print_as_their_own_glyphs_not_the_common_form(tmp_path):
    """𠮷 is not 吉, 髙 is not 高, 﨑 is not 崎 on paper: rasterised (as CUPS' poppler does),
    each pair's shapes differ."""
    import cv2
    import numpy as np
    pdf = render_form("juminhyo", {"name": "𠮷吉\u3000髙高\u3000﨑崎"})
    path = tmp_path / "pairs.pdf"
    path.write_bytes(pdf)
    dpi = 400
    subprocess.run(["pdftoppm", "-gray", "-png", "-r", str(dpi), "-singlefile", str(path), str(tmp_path / "pairs")],
                   check=True)
    img = cv2.imread(str(tmp_path / "pairs.png"), cv2.IMREAD_GRAYSCALE) < 128
    s = dpi / 72
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        glyph = {c["text"]: img[int(c["top"] * s):int(c["bottom"] * s), int(c["x0"] * s):int(c["x1"] * s)]
                 for c in doc.pages[0].chars if c["text"] in "𠮷吉髙高﨑崎"}
    for rare, common in (("𠮷", "吉"), ("髙", "高"), ("﨑", "崎")):
        a, b = glyph[rare], glyph[common]
        h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
        assert a.sum() > 500  # there is ink: not a blank
        assert np.count_nonzero(a[:h, :w] != b[:h, :w]) > 0.08 * a.sum(), rare


# ------------------------------------------------------------------------------ fonts embedded

def pdffonts(pdf: bytes, tmp_path: Path) -> list[tuple[str, str]]:
    """(font name, emb yes/no) of every font the PDF names, as poppler's pdffonts lists them."""
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf)
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
    return [(line.split()[0], line.split()[-5]) for line in lines[2:]]


def test_every_font_of_every_form_is_embedded(tmp_path):
    """An archive (PDF/A) or a print shop takes only embedded fonts; reportlab's default
    Helvetica used to be named (unembedded) on every page, and the demo city's own form too."""
    visit = json.loads((Path(__file__).resolve().parent.parent / "printing" / "samples" / "visit.json").read_text())
    catalogue = get_catalogue()
    pdfs = {"visit": render_application(visit, APP_ID)}
    pdfs["inu_toroku"] = render_form("inu_toroku", {"name": "山田\u3000太郎", "inu_name": "ポチ"}, APP_ID)
    for pid in catalogue.procedures:
        pdfs[f"blank {pid}"] = background_pdf(load_layout(pid, catalogue), catalogue)
    for what, pdf in pdfs.items():
        fonts = pdffonts(pdf, tmp_path)
        assert fonts, what
        assert all(emb == "yes" for _, emb in fonts), (what, fonts)
        assert not any("Helvetica" in name for name, _ in fonts), (what, fonts)


def test_relationships_print_in_japanese_and_latin_names_keep_their_spaces():
    data = {"procedures": ["juminido"], "move_type": "tennyu", "name": "NGUYEN　Van  An",
            "kana": "グエン　ヴァン　アン",
            "household": [{"name": "NGUYEN Thi Lan", "birth_date": "1990-02-03", "relationship": "spouse"},
                          {"name": "山田　花子", "birth_date": "1992-03-04", "relationship": "sibling"}]}
    _, values = __import__("core.forms", fromlist=["parse_application"]).parse_application(
        data, get_catalogue(), complete=False)
    assert values["name"] == "NGUYEN Van An" and values["household"][0]["name"] == "NGUYEN Thi Lan"
    text = "".join(p.extract_text() for p in pdfplumber.open(io.BytesIO(render_form("juminido", values, APP_ID))).pages)
    assert "NGUYEN Van An" in text and "NGUYEN Thi Lan" in text and "配偶者" in text and "兄弟姉妹" in text
    assert "spouse" not in text and "sibling" not in text and "NGUYEN\u3000" not in text


def test_the_individual_number_column_is_on_the_continuation_sheet_too():
    """国保's 個人番号 is written at the counter for every member: the 別紙 has the column and its
    12 boxes a row, and nothing is printed in them."""
    members = [{"name": f"山田\u3000{n}", "birth_date": "2000-01-01", "sex": "male", "relationship": "child"}
               for n in "一二三四五六七"]
    raw = layout_raw("kokuho_shutoku")
    table = next(f for f in raw["fields"] if f["type"] == "household")
    column = next(c for c in table["columns"] if c["key"] == "individual_number")
    left = table["x"] + sum(c["w"] for c in table["columns"][:table["columns"].index(column)])
    pdf = render_form("kokuho_shutoku", {"household": members}, APP_ID)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        assert len(doc.pages) == 2
        body = (table["y"], table["y"] + table["header_h"] + table["rows"] * table["row_h"])
        for page, rows, (top, bottom) in zip(doc.pages, (table["rows"], len(members) - table["rows"]),
                                             (body, (40, 297)), strict=True):   # below the sheet's QR
            assert "個人番号（窓口記入）" in squash(page.extract_text())
            boxes = [r for r in page.rects if left * MM <= r["x0"] and r["x1"] <= (left + column["w"]) * MM
                     and top * MM <= r["top"] and r["bottom"] <= bottom * MM and 3 * MM < r["width"] < 5 * MM]
            assert len(boxes) == 12 * rows
            assert value_chars(page, left, top, column["w"], bottom - top) == []
