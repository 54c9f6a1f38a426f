"""The layout editor in headless Chromium under the real CSP, against `madoguchi serve`: an
admin imports a blank form, places three fields by dragging them, saves, previews, and the
rendered PDF has each value where the field was dropped."""
from __future__ import annotations

import io
import shutil
import tomllib

import pdfplumber
import pytest
from playwright.sync_api import expect
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from tests.conftest import DEMO_SITE
from tests.fixtures_counter import PASSWORD
from tests.helpers import LiveServer, write_config

pytestmark = pytest.mark.browser
MM = 72 / 25.4
# where the admin drops each field (mm from the page's top-left corner), and its box's size
TARGETS = {"name": (30.0, 60.0), "address": (30.0, 90.0), "phone": (30.0, 130.0)}
FIELD_W, FIELD_H = 60.0, 8.0


def blank_form() -> bytes:
    """A city's A4 form with three labelled boxes whose labels name no catalogue field."""
    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(210 * MM, 297 * MM))
    c.setFont("HeiseiKakuGo-W5", 14)
    c.drawString(20 * MM, (297 - 30) * MM, "架空市　見本様式")
    c.setFont("HeiseiKakuGo-W5", 9)
    for i, label in enumerate(("甲欄", "乙欄", "丙欄")):
        top = 55 + i * 35
        c.rect(5 * MM, (297 - top - 20) * MM, 20 * MM, 20 * MM, fill=0)
        c.drawString(7 * MM, (297 - top - 11) * MM, label)
        c.rect(25 * MM, (297 - top - 20) * MM, 150 * MM, 20 * MM, fill=0)
    c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture
def editor_server(tmp_path, overrides, clerks):
    site = tmp_path / "site"
    shutil.copytree(DEMO_SITE, site)
    config = write_config(tmp_path / "editor.toml", overrides(site={"folder": str(site)}))
    server = LiveServer(config, "counter")
    yield server, site
    server.stop()


@pytest.fixture
def admin_page(browser):
    """An office PC's screen, with the page's own CSP in force."""
    # tall enough for the whole A4 page at the editor's width, so every drag starts and ends on screen
    context = browser.new_context(viewport={"width": 1366, "height": 1600}, locale="ja-JP")
    page = context.new_page()
    yield page
    context.close()


def mm_to_screen(page, x_mm: float, y_mm: float) -> tuple[float, float]:
    box = page.locator("#layout-sheet").bounding_box()
    scale = box["width"] / 210.0
    return box["x"] + x_mm * scale, box["y"] + y_mm * scale


def drag_field(page, index: int, to_mm: tuple[float, float]) -> None:
    page.evaluate("document.getElementById('layout-sheet').scrollIntoView({block: 'start'})")
    field = page.locator(f'#layout-fields rect[data-index="{index}"]')
    x0 = float(field.get_attribute("x"))
    y0 = float(field.get_attribute("y"))
    sx, sy = mm_to_screen(page, x0 + 5, y0 + 3)          # grab it near its top-left corner
    tx, ty = mm_to_screen(page, to_mm[0] + 5, to_mm[1] + 3)
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move((sx + tx) / 2, (sy + ty) / 2, steps=5)
    page.mouse.move(tx, ty, steps=5)
    page.mouse.up()


def test_import_place_three_fields_save_and_render(admin_page, editor_server, tmp_path, output_dir):
    server, site = editor_server
    page = admin_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.url + "/counter/")
    page.fill("#username", "tanaka")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="様式の配置").click()
    page.locator("#layout-inu_toroku").get_by_role("link").click()
    expect(page.locator("#layout-sheet")).to_have_attribute("data-background", "loaded")

    form_pdf = tmp_path / "city-form.pdf"
    form_pdf.write_bytes(blank_form())
    page.set_input_files("#import-file", str(form_pdf))
    page.click("#import-run")
    expect(page.locator("#editor-status")).to_contain_text("3")          # 3 boxes without a field
    assert page.locator("#layout-fields rect[data-index]").count() == 0

    for i, (source, target) in enumerate(TARGETS.items()):
        page.click("#field-add")
        page.select_option("#prop-source", source)
        page.fill("#prop-w", str(FIELD_W))
        page.locator("#prop-w").dispatch_event("change")
        page.fill("#prop-h", str(FIELD_H))
        page.locator("#prop-h").dispatch_event("change")
        drag_field(page, i, target)
        expect(page.locator(f'#layout-fields rect[data-index="{i}"]')).to_have_attribute("data-source", source)
    # the keyboard moves the selected field too: 2 mm right and back
    rect = page.locator('#layout-fields rect[data-index="2"]')
    rect.focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowLeft", "ArrowLeft"):
        page.keyboard.press(key)
    page.screenshot(path=str(output_dir / "layout-editor.png"), full_page=True)

    page.click("#layout-save")
    expect(page.locator("#editor-status")).to_have_text("様式の配置を保存しました。")
    saved = tomllib.loads((site / "procedures" / "layouts" / "inu_toroku.toml").read_text("utf-8"))
    assert saved["background"].startswith("backgrounds/inu_toroku-")
    placed = {f["source"]: f for f in saved["fields"]}
    assert set(placed) == set(TARGETS)
    for source, (x, y) in TARGETS.items():
        assert abs(placed[source]["x"] - x) <= 1.0 and abs(placed[source]["y"] - y) <= 1.0, placed[source]

    page.click("#preview-run")
    expect(page.locator("#preview-image")).to_have_attribute("data-shown", "1")
    assert page.locator("#preview-image").evaluate("img => img.naturalWidth") > 300
    page.screenshot(path=str(output_dir / "layout-editor-preview.png"), full_page=True)
    # the preview follows the layout: a field moved by a key is drawn again without a click
    page.locator('#layout-fields rect[data-index="0"]').focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#preview-image")).to_have_attribute("data-renders", "2")
    assert not errors, errors

    # the saved layout, rendered: each value inside the box it was dropped in
    from core.site import activate, load_site
    from printing import render_form
    activate(load_site(site))
    data = {"name": "山田　太郎", "address": "札幌市中央区北一条西二丁目", "phone": "03-1234-5678"}
    with pdfplumber.open(io.BytesIO(render_form("inu_toroku", data))) as pdf:
        words = pdf.pages[0].extract_words()
        for source, value in data.items():
            f = placed[source]
            first = value.split("　")[0][:2]
            hits = [w for w in words if w["text"].startswith(first)]
            assert hits, (source, [w["text"] for w in words])
            w = hits[0]
            x_mm, top_mm, bottom_mm = w["x0"] / MM, w["top"] / MM, w["bottom"] / MM
            assert f["x"] - 0.5 <= x_mm <= f["x"] + 3, (source, x_mm, f)
            assert f["y"] - 0.5 <= top_mm and bottom_mm <= f["y"] + f["h"] + 0.5, (source, top_mm, bottom_mm, f)


def test_the_editor_is_accessible_and_works_with_the_keyboard(browser, editor_server):
    """axe-core finds no WCAG 2.1 AA violation on the editor over a drawn form, and the arrow
    keys move a field (and Shift+arrows resize it) without a pointer."""
    from tests.fixtures_counter import accessibility_violations
    server, _site = editor_server
    context = browser.new_context(viewport={"width": 1366, "height": 1600}, locale="ja-JP", bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(server.url + "/counter/")
        page.fill("#username", "tanaka")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        page.goto(server.url + "/counter/admin/layouts/juminhyo")
        expect(page.locator("#layout-sheet")).to_have_attribute("data-background", "loaded")
        field = page.locator('#layout-fields rect[data-index="0"]')
        x, w = float(field.get_attribute("x")), float(field.get_attribute("width"))
        field.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Shift+ArrowRight")
        field = page.locator('#layout-fields rect[data-index="0"]')
        assert float(field.get_attribute("x")) == x + 1
        assert float(field.get_attribute("width")) == w + 1
        expect(page.locator("#prop-x")).to_have_value(str(int(x + 1)) if (x + 1).is_integer() else str(x + 1))
        assert accessibility_violations(page) == []
        count = page.locator("#layout-fields rect[data-index]").count()
        page.locator('#layout-fields rect[data-index="0"]').focus()
        page.keyboard.press("Delete")
        expect(page.locator("#layout-fields rect[data-index]")).to_have_count(count - 1)
    finally:
        context.close()
