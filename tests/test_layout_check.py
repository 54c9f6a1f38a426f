"""Checking a layout (printing.layout.layout_problems, `madoguchi form check`): fields off the
page, fields printing over each other, sources that are no field of the procedure, a city's
background of the wrong size; every message names the file, the line and the key."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from printing.layout import layout_problems
from tests.helpers import ROOT, madoguchi, write_config

BUILTIN = ROOT / "core" / "procedures" / "layouts"
DEMO = ROOT / "sites" / "demo" / "procedures" / "layouts"
ALL_LAYOUTS = sorted(BUILTIN.glob("*.toml")) + sorted(DEMO.glob("*.toml"))


def layout_file(tmp_path: Path, procedure: str, extra: str = "", replace: tuple[str, str] | None = None) -> Path:
    """A copy of a built-in layout in tmp_path/layouts, with `extra` TOML appended."""
    text = (BUILTIN / f"{procedure}.toml").read_text("utf-8")
    if replace:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1], 1)
    path = tmp_path / "layouts" / f"{procedure}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + extra, "utf-8")
    return path


def line_number(path: Path, text: str, after: int = 0) -> int:
    lines = path.read_text("utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if n > after and line.strip() == text)


@pytest.mark.parametrize("path", ALL_LAYOUTS, ids=lambda p: p.stem)
def test_the_built_in_and_demo_layouts_have_no_problems(path):
    assert layout_problems(path) == []


def test_a_field_off_the_page_names_the_file_line_and_key(tmp_path):
    path = layout_file(tmp_path, "juminhyo", '\n[[fields]]\ntype = "text"\nsource = "phone"\n'
                                             'x = 150\ny = 285\nw = 40\nh = 15\n')
    problems = layout_problems(path)
    start = line_number(path, 'source = "phone"', after=len(path.read_text().splitlines()) - 8)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{start + 4}: fields[")
    assert ".h: phone is off the page" in problems[0] and "210 × 297 mm page" in problems[0]


def test_half_a_millimetre_past_the_edge_is_allowed(tmp_path):
    path = layout_file(tmp_path, "juminhyo", '\n[[fields]]\ntype = "text"\nsource = "phone"\n'
                                             'x = 150.5\ny = 285\nw = 60\nh = 12\n')
    assert layout_problems(path) == []      # 210.5 mm: within the slack
    path.write_text(path.read_text().replace("x = 150.5", "x = 151"))
    assert "off the page" in layout_problems(path)[0]


def test_two_fields_over_each_other_are_reported_once(tmp_path):
    text = (BUILTIN / "juminhyo.toml").read_text("utf-8")
    assert text.count('type = "qr"') == 1
    path = layout_file(tmp_path, "juminhyo", '\n[[fields]]\ntype = "text"\nsource = "phone"\n'
                                             'x = 160\ny = 12\nw = 30\nh = 8\n')
    problems = layout_problems(path)
    assert len(problems) == 1, problems
    assert "phone prints over fields[1] (qr): they share" in problems[0]


def test_fields_that_only_touch_do_not_overlap(tmp_path):
    # the demo's フリガナ row ends where the name box begins (y 46 + 6 = 52)
    path = DEMO / "inu_toroku.toml"
    text = path.read_text("utf-8")
    assert "y = 46\nw = 148\nh = 6" in text and "y = 52\nw = 148\nh = 12" in text
    assert layout_problems(path) == []


def test_a_choice_placed_with_at_is_checked_where_its_options_are(tmp_path):
    choice = ('\n[[fields]]\ntype = "choice"\nsource = "juminhyo_scope"\nx = {x}\ny = {y}\n'
              'at = {{ self = [175, 12, 10, 6] }}\n')
    # its nominal x, y sit in free space, but its one option lands on the QR code
    path = layout_file(tmp_path, "juminhyo", choice.format(x=100, y=290))
    assert len(problems := layout_problems(path)) == 1 and "over fields[1] (qr)" in problems[0]
    # and the other way round: x, y on the code, the option in free space
    path = layout_file(tmp_path, "juminhyo", choice.format(x=175, y=12).replace("175, 12, 10", "100, 285, 10"))
    assert layout_problems(path) == []


def test_a_source_that_is_no_field_of_the_procedure(tmp_path):
    path = layout_file(tmp_path, "zei_shomei", replace=('source = "address"', 'source = "adress"'))
    [problem] = layout_problems(path)
    line = line_number(path, 'source = "adress"')
    assert problem.startswith(f"{path}:{line}: fields[") and ".source: source adress is not a field" in problem
    path = layout_file(tmp_path, "zei_shomei", replace=('source = "address"', 'source = "@mayor"'))
    assert "unknown source @mayor" in layout_problems(path)[0]


def test_an_unknown_key_names_its_line(tmp_path):
    path = layout_file(tmp_path, "zei_shomei", replace=('source = "address"', 'source = "address"\nwidht = 3'))
    [problem] = layout_problems(path)
    assert problem.startswith(f"{path}:{line_number(path, 'widht = 3')}: fields[")
    assert ".widht: unknown keys ['widht']" in problem


def test_a_background_of_another_size_than_the_page(tmp_path):
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfgen.canvas import Canvas
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A5)
    c.drawString(20, 20, "a blank form")
    c.showPage()
    c.save()
    (tmp_path / "backgrounds").mkdir()
    (tmp_path / "backgrounds" / "juminhyo.pdf").write_bytes(buf.getvalue())
    path = layout_file(tmp_path, "juminhyo",
                       replace=('page = "A4"', 'page = "A4"\nbackground = "backgrounds/juminhyo.pdf"'))
    [problem] = layout_problems(path)
    line = line_number(path, 'background = "backgrounds/juminhyo.pdf"')
    assert problem.startswith(f"{path}:{line}: background:")
    assert "148×210 mm" in problem and "210×297 mm" in problem


def test_a_layout_of_no_procedure(tmp_path):
    path = tmp_path / "layouts" / "nothing.toml"
    path.parent.mkdir()
    path.write_text('page = "A4"\n')
    assert "no procedure nothing" in layout_problems(path)[0]


def test_form_check_reports_a_sites_layout_with_its_file_and_line(tmp_path):
    import shutil
    site = tmp_path / "site"
    shutil.copytree(ROOT / "sites" / "demo", site)
    layout = site / "procedures" / "layouts" / "inu_toroku.toml"
    layout.write_text(layout.read_text("utf-8").replace("y = 52\nw = 148\nh = 12", "y = 50\nw = 148\nh = 12"))
    from tests.conftest import test_overrides
    overrides = test_overrides(tmp_path)
    overrides["site"] = {"folder": str(site)}
    config_file = write_config(tmp_path / "config.toml", overrides)
    out = madoguchi("form", "check", config_file=config_file)
    assert out.returncode == 1
    assert "ok\tjuminhyo" in out.stdout
    assert "error\tinu_toroku\tprocedures/layouts/inu_toroku.toml:" in out.stdout
    assert "name prints over fields[2] (kana): they share 148.0 × 2.0 mm" in out.stdout


# ---------------------------------------------------------------- the municipality on the forms

def words_in(pdf: bytes, x0: float, top: float, x1: float, bottom: float) -> str:
    """The text printed inside a box (mm) of the first page."""
    import pdfplumber
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        box = page.crop((x0 * MM, top * MM, x1 * MM, bottom * MM))
        return (box.extract_text() or "").replace(" ", "")


MM = 72 / 25.4
ADDRESSEE_BOX = (14, 5, 116, 13)


@pytest.mark.parametrize("procedure", sorted(p.stem for p in BUILTIN.glob("*.toml")))
def test_every_built_in_form_names_the_sites_addressee_top_left(procedure):
    from printing import render_form
    assert words_in(render_form(procedure, {}), *ADDRESSEE_BOX) == "架空市長\u3000あて".replace("\u3000", "")


def test_without_a_site_nothing_is_printed_where_the_addressee_goes():
    from core.site import NO_SITE, activate
    from printing import render_form
    activate(NO_SITE)
    assert words_in(render_form("juminhyo", {}), *ADDRESSEE_BOX) == ""


def test_a_layout_may_print_the_municipalitys_name():
    from core.site import activate, load_site
    from printing import render_form
    activate(load_site(ROOT / "tests" / "sites" / "oban"))
    path = ROOT / "tests" / "sites" / "oban" / "procedures" / "layouts" / "zei_shomei.toml"
    assert layout_problems(path) == []
    pdf = render_form("zei_shomei", {})
    assert words_in(pdf, 19, 39, 121, 51) == "大判町"
    assert "大判町長" not in words_in(pdf, 0, 0, 256, 363)     # this B4 layout has no addressee line


def test_a_choices_options_running_past_its_box_count_where_they_print(tmp_path):
    path = layout_file(tmp_path, "juminhyo", '\n[[fields]]\ntype = "choice"\nsource = "juminhyo_scope"\n'
                                             'x = 180\ny = 285\nw = 10\nh = 6\n')
    [problem] = layout_problems(path)
    assert "juminhyo_scope is off the page" in problem and ".w: " in problem
