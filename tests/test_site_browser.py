"""The site's branding in headless Chromium, under the real CSP: the generated theme and the logo
load, the header takes the site's colour, and a city that picks a light colour still passes axe
(text on it turns black; links use a darker shade)."""
from __future__ import annotations

import re
import shutil

import pytest

from core.colour import contrast
from core.config import load_config
from core.site import Site
from tests.conftest import DEMO_SITE
from tests.fixtures_browser import AXE_JS, assert_accessible
from tests.helpers import LiveServer, write_config
from tests.kiosk_helpers import pair_context
from web.city import theme_properties

pytestmark = pytest.mark.browser

LIGHT = {"primary": "#ffd23f", "accent": "#f0f0f0"}     # too light for white text, or as text on white


def light_site(tmp_path):
    """The demo's folder with a light primary colour."""
    folder = tmp_path / "light_city"
    shutil.copytree(DEMO_SITE, folder)
    toml = (folder / "site.toml").read_text("utf-8")
    toml = re.sub(r'primary_colour = "#[0-9a-f]{6}"', f'primary_colour = "{LIGHT["primary"]}"', toml)
    toml = re.sub(r'accent_colour = "#[0-9a-f]{6}"', f'accent_colour = "{LIGHT["accent"]}"', toml)
    (folder / "site.toml").write_text(toml, "utf-8")
    return folder


@pytest.fixture
def light_server(tmp_path, overrides):
    values = overrides(site={"folder": str(light_site(tmp_path))}, devices={"emulator_persona": ""})
    config_file = write_config(tmp_path / "light.toml", values)
    server = LiveServer(config_file, "all")
    yield server, load_config(config_file, base_dir=tmp_path)
    server.stop()


def rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"


def test_the_theme_and_logo_load_under_the_csp(browser, light_server):
    server, _ = light_server
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
    try:
        page.goto(server.url + "/prereg/")
        props = theme_properties(Site(colours=LIGHT))
        header = page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor")
        assert header == rgb(props["--site-primary-dark"])
        assert page.evaluate("document.querySelector('img.site-logo').naturalWidth") > 0
        button = page.evaluate("(() => { const s = getComputedStyle(document.querySelector('main .button'));"
                               " return [s.color, s.backgroundColor]; })()")
        assert button == [rgb(props["--site-on-primary"]), rgb(LIGHT["primary"])]
        assert props["--site-on-primary"] == "#000000"
        assert contrast(props["--site-on-primary"], LIGHT["primary"]) >= 4.5
        assert page.title().endswith(" - 架空市")
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


def test_a_light_site_colour_passes_axe_on_every_surface(browser, light_server):
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `npm install`")
    server, config = light_server
    # bypass_csp only so axe-core can be injected; the test above runs under the CSP.
    context = browser.new_context(viewport={"width": 1080, "height": 1920}, locale="ja-JP", bypass_csp=True)
    pair_context(context, server.url, config)
    page = context.new_page()
    try:
        for path in ["/prereg/", "/prereg/event", "/counter/sign-in", "/kiosk/", "/kiosk/language?next=/kiosk/"]:
            page.goto(server.url + path)
            page.wait_for_load_state()
            assert_accessible(page)
        page.goto(server.url + "/prereg/event")
        page.click("main form button[type=submit]")              # nothing chosen: the error summary
        page.wait_for_load_state()
        assert_accessible(page)
    finally:
        context.close()


def test_a_light_site_colour_passes_axe_on_the_kiosks_confirm_and_done_pages(browser, light_server):
    from tests.test_kiosk_browser import PORTRAIT, answer_guide, answer_questions, read_demo_card, wait_url
    server, config = light_server
    context = browser.new_context(viewport=PORTRAIT, locale="ja-JP", has_touch=True, bypass_csp=True)
    pair_context(context, server.url, config)
    page = context.new_page()
    try:
        page.goto(server.url + "/kiosk/card")
        read_demo_card(page)
        page.click("button[value=moving_in]")
        wait_url(page, r"/kiosk/guide$")
        assert_accessible(page)
        answer_guide(page)                                        # 手続きナビ: nothing beyond the 転入届
        wait_url(page, r"/kiosk/procedures$")
        page.click("button.k-primary")
        answer_questions(page)
        page.wait_for_load_state()
        assert_accessible(page)                                   # confirm
        page.click("button.k-big")
        wait_url(page, r"/kiosk/done$", 30000)
        assert page.inner_text(".k-next-where") == "1階 3番窓口"
        assert_accessible(page)
    finally:
        context.close()
