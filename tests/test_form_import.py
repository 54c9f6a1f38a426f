"""`madoguchi form import`: a city's blank form PDF read into a proposed layout (boxes, labels,
fields matched by their Japanese labels), and clear refusals for PDFs that are not usable."""
from __future__ import annotations

import io
import shutil
import tomllib

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from core.catalogue import get_catalogue
from printing.form_import import FormImportError, read_blank_form
from printing.layout import load_layout
from tests import conftest
from tests.conftest import DEMO_SITE
from tests.form_helpers import encrypted_pdf, no_pages_pdf, rotated_pdf, scanned_pdf
from tests.helpers import write_config

MM = 72 / 25.4
INU_PDF = DEMO_SITE / "procedures" / "backgrounds" / "inu_toroku.pdf"


def boxes_by_source(proposal) -> dict[str, dict]:
    return {f["source"]: f for f in proposal.fields}


def test_the_demo_dog_form_gives_its_boxes_and_the_person_fields():
    proposal = read_blank_form(INU_PDF.read_bytes(), get_catalogue())
    assert proposal.page == "A4" and not proposal.image_only
    found = boxes_by_source(proposal)
    # the value boxes right of 氏名/住所/フリガナ/電話番号 (measured from the form: x 47 mm, w 148 mm)
    assert (found["kana"]["type"], found["kana"]["y"], found["kana"]["h"]) == ("kana", 46, 6)
    assert (found["name"]["type"], found["name"]["x"], found["name"]["y"], found["name"]["w"]) == ("text", 47, 52, 148)
    assert (found["address"]["type"], found["address"]["y"], found["address"]["h"]) == ("multiline", 64, 18)
    assert (found["phone"]["y"], found["phone"]["h"]) == (82, 8)


def test_a_procedure_prefers_its_own_fields_and_skips_the_office_part():
    proposal = read_blank_form(INU_PDF.read_bytes(), get_catalogue(), "inu_toroku")
    found = boxes_by_source(proposal)
    assert found["inu_name"]["x"] == 47 and found["inu_breed"]["x"] == 132      # 名前 / 種類 of the dog
    assert found["inu_birth_date"]["type"] == "date"                           # 生年月日 in the dog's rows
    assert found["inu_previous_tag"]["y"] == 138                               # not the office's 鑑札番号 box
    assert all(f["y"] < 240 for f in proposal.fields)                           # 窓口使用欄 stays empty


def test_the_cli_writes_a_layout_that_loads_and_copies_the_form(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from core.cli import main
    site = tmp_path / "site"
    shutil.copytree(DEMO_SITE, site)
    (site / "procedures" / "backgrounds" / "inu_toroku.pdf").unlink()
    (site / "procedures" / "layouts" / "inu_toroku.toml").unlink()
    overrides = {**conftest.test_overrides(tmp_path), "site": {"folder": str(site)}}
    config = write_config(tmp_path / "config.toml", overrides)
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(config))
    out = site / "procedures" / "layouts" / "inu_toroku.toml"
    result = CliRunner().invoke(main, ["form", "import", str(INU_PDF), "--procedure", "inu_toroku",
                                       "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (site / "procedures" / "backgrounds" / "inu_toroku.pdf").read_bytes() == INU_PDF.read_bytes()
    raw = tomllib.loads(out.read_text("utf-8"))
    assert raw["background"] == "backgrounds/inu_toroku.pdf" and raw["page"] == "A4"
    from core.catalogue import load_catalogue
    from core.site import activate, load_site
    activate(load_site(site))
    layout = load_layout("inu_toroku", load_catalogue([site / "procedures"]))
    assert layout.path == out and {"name", "address", "kana", "phone"} <= {f.source for f in layout.fields}


def test_the_cli_prints_the_proposal_with_unmatched_boxes_as_comments(runner, tmp_path):
    result = runner.invoke("form", "import", str(INU_PDF))
    assert result.exit_code == 0
    assert 'background = "backgrounds/inu_toroku.pdf"' in result.stdout
    assert "# box next to 「種類」" in result.stdout      # two fields of the catalogue have 種類 in their label
    tomllib.loads(result.stdout)


def line_grid_form() -> bytes:
    """A form drawn with lines only (no rectangles): labels in the left column of a grid."""
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(210 * MM, 297 * MM))
    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    c.setFont("HeiseiKakuGo-W5", 10)
    top, rows, left, mid, right = 297 - 40, 3, 20, 50, 190
    for r in range(rows + 1):
        c.line(left * MM, (top - r * 12) * MM, right * MM, (top - r * 12) * MM)
    for x in (left, mid, right):
        c.line(x * MM, top * MM, x * MM, (top - rows * 12) * MM)
    for r, label in enumerate(("氏名", "生年月日", "郵便番号")):
        c.drawString((left + 3) * MM, (top - r * 12 - 8) * MM, label)
    c.showPage()
    c.save()
    return buf.getvalue()


def test_a_grid_of_lines_gives_its_cells():
    proposal = read_blank_form(line_grid_form(), get_catalogue())
    found = boxes_by_source(proposal)
    assert set(found) == {"name", "birth_date", "postal_code"}
    assert (found["name"]["x"], found["name"]["y"], found["name"]["w"], found["name"]["h"]) == (50, 40, 140, 12)
    assert found["birth_date"]["y"] == 52 and found["postal_code"]["format"] == "postal"








@pytest.mark.parametrize(("make", "code"), [
    (lambda: b"Not a PDF at all, a text file.", "not_pdf"),
    (lambda: b"%PDF-1.7\n garbage without objects", "not_pdf"),
    (lambda: INU_PDF.read_bytes()[:2000], "not_pdf"),
    (encrypted_pdf, "encrypted"),
    (no_pages_pdf, "no_pages"),
    (rotated_pdf, "rotated"),
])
def test_unusable_pdfs_are_refused_with_a_code(make, code):
    with pytest.raises(FormImportError) as e:
        read_blank_form(make(), get_catalogue())
    assert e.value.code == code


@pytest.mark.parametrize(("make", "code"), [(encrypted_pdf, "encrypted"), (no_pages_pdf, "no_pages"),
                                            (lambda: b"GIF89a", "not_pdf")])
def test_the_cli_names_the_problem_without_a_traceback(runner, tmp_path, make, code):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(make())
    from click.testing import CliRunner

    from core.cli import main
    result = CliRunner().invoke(main, ["form", "import", str(bad)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"[{code}]" in result.output and "Traceback" not in result.output


def test_a_scan_is_said_to_be_one_and_still_makes_a_background(runner, tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_pdf())
    proposal = read_blank_form(scan.read_bytes(), get_catalogue())
    assert proposal.image_only and proposal.fields == [] and proposal.page == "A4"
    result = runner.invoke("form", "import", str(scan), "--out", str(tmp_path / "scan.toml"))
    assert result.exit_code == 0 and "[image_only]" in result.output
    raw = tomllib.loads((tmp_path / "scan.toml").read_text("utf-8"))
    assert raw == {"page": "A4", "font": "mincho", "background": "backgrounds/scan.pdf"}   # no fields yet
