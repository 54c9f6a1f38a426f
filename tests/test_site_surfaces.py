"""The site folder on the three surfaces: the municipality's name, logo and colours in every page,
"where to go next" from its offices, its privacy notice, its own procedure (犬の登録) from start to
the printed form, and a built-in procedure it switched off offered nowhere."""
from __future__ import annotations

import re

import pytest
from flask import g
from pypdf import PdfReader

from core.catalogue import get_catalogue
from core.colour import TEXT_CONTRAST, contrast, mix
from core.config import load_config
from core.site import NO_SITE, Site
from tests.conftest import DEMO_SITE
from tests.fixtures_counter import sign_in
from tests.helpers import ROOT
from tests.kiosk_helpers import Kiosk, csp_safe
from tests.prereg_helpers import Walker, answer_all, answer_guide, date_parts
from web.city import places_in_every_office, theme_css, theme_properties

SMALL_TOWN = ROOT / "tests" / "sites" / "small_town"   # no logo, colours or notice; inkan_toroku off


@pytest.fixture
def make_app(tmp_path, emulated_cards, overrides):
    """An app on a site folder of the test's choice ([site].folder), with every surface."""
    from web import create_app

    def make(folder=DEMO_SITE, surfaces="all", **sections):
        values = overrides(site={"folder": str(folder)})
        values.setdefault("devices", {})["emulator_persona"] = ""
        for section, keys in sections.items():
            values.setdefault(section, {}).update(keys)
        app = create_app(load_config(ROOT / "config.toml", overrides=values, base_dir=tmp_path), surfaces)
        app.config["TESTING"] = True
        return app
    return make


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)


# --- name, logo and colours ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/prereg/", "/counter/sign-in", "/"])
def test_the_municipality_names_every_page_with_its_logo_and_colours(make_app, path):
    client = make_app().test_client()
    html = client.get(f"{path}?lang=en").get_data(as_text=True)
    assert title_of(html).endswith(" - Kaku City")
    brand = re.search(r'<span class="site-brand">(.*?)</span></span>', html, re.S).group(1)
    assert re.search(r'<img class="site-logo" src="/site/logo\?v=[0-9a-f]+" alt="">', brand)
    assert '<span class="site-name">Kaku City' in brand
    assert re.search(r'<link rel="stylesheet" href="/site/theme.css\?v=[0-9a-f]+">', html)
    assert csp_safe(html) == []
    ja = client.get(f"{path}?lang=ja").get_data(as_text=True)
    assert title_of(ja).endswith(" - 架空市") and '<span class="site-name">架空市' in ja


def test_the_kiosk_bar_names_the_municipality(make_app):
    kiosk = Kiosk(make_app(surfaces="kiosk"))
    html = kiosk.start("ja").get_data(as_text=True)
    assert title_of(html).endswith(" - 架空市")
    bar = re.search(r'<span class="k-brand">(.*?)</header>', html, re.S).group(1)
    assert 'class="site-logo" src="/site/logo?v=' in bar and "架空市" in bar
    assert csp_safe(html) == []


def test_the_logo_is_the_one_file_site_toml_names_cacheable_and_inert(make_app):
    client = make_app().test_client()
    r = client.get("/site/logo")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert r.data == (DEMO_SITE / "logo.svg").read_bytes()
    assert "public" in r.headers["Cache-Control"] and "max-age=86400" in r.headers["Cache-Control"]
    assert "sandbox" in r.headers["Content-Security-Policy"]
    again = client.get("/site/logo", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    # Only that one file: nothing else of the folder (or outside it) can be asked for.
    for path in ["/site/site.toml", "/site/offices.toml", "/site/logo.svg", "/site/logo/../site.toml",
                 "/site/logo/..%2fsite.toml", "/site/%2e%2e/config.toml", "/site/procedures/inu_toroku.toml"]:
        assert client.get(path).status_code == 404, path
    assert client.get("/site/logo?file=../site.toml").data == r.data


def test_a_site_without_logo_or_colours_shows_its_name_only(make_app):
    client = make_app(SMALL_TOWN).test_client()
    html = client.get("/prereg/?lang=en").get_data(as_text=True)
    assert '<span class="site-name">Test Town' in html and "site-logo" not in html
    assert client.get("/site/logo").status_code == 404
    css = client.get("/site/theme.css")
    assert css.mimetype == "text/css" and "--site-" not in css.get_data(as_text=True)


def test_no_site_folder_keeps_the_built_in_look(make_app):
    client = make_app("").test_client()
    html = client.get("/prereg/?lang=en").get_data(as_text=True)
    assert "site-brand" not in html and not title_of(html).endswith(" - ")
    assert "--site-" not in client.get("/site/theme.css").get_data(as_text=True)


def test_the_theme_sets_the_sites_colours_as_custom_properties(make_app):
    client = make_app().test_client()
    r = client.get("/site/theme.css")
    css = r.get_data(as_text=True)
    assert r.mimetype == "text/css" and "public" in r.headers["Cache-Control"]
    assert "--site-primary: #1d5b79;" in css and "--site-accent: #e0a526;" in css
    assert client.get("/site/theme.css", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    # Every surface's CSS reads them, with its own colours as fallbacks.
    for sheet in ["web/static/madoguchi.css", "kiosk/static/kiosk.css"]:
        text = (ROOT / sheet).read_text()
        assert "--primary: var(--site-primary, #0031d8)" in text and "--primary-text: var(--site-primary-text" in text


TEXT_PAIRS = [("--site-on-primary", "--site-primary"), ("--site-on-primary-dark", "--site-primary-dark"),
              ("--site-primary-text", "--site-primary-light"), ("--site-primary-dark", "--site-primary-light"),
              ("--site-on-accent", "--site-accent")]


@pytest.mark.parametrize("primary,accent", [("#1d5b79", "#e0a526"), ("#ffee00", "#003300"), ("#7fb3d5", "#ffffff"),
                                            ("#000000", "#808080"), ("#ff0000", "#00ff00")])
def test_text_on_site_colours_always_reads_at_4_5_to_1(primary, accent):
    props = theme_properties(Site(colours={"primary": primary, "accent": accent}))
    for text, background in TEXT_PAIRS:
        assert contrast(props[text], props[background]) >= TEXT_CONTRAST, (text, background, props)
        assert contrast(props[text], "#ffffff") >= TEXT_CONTRAST or text.startswith("--site-on-")
    assert props["--site-primary"] == primary and props["--site-accent"] == accent
    # The kiosk's steps in the bar are its text at 85% opacity: still 4.5:1.
    dimmed = mix(props["--site-on-primary-dark"], props["--site-primary-dark"], 0.15)
    assert contrast(dimmed, props["--site-primary-dark"]) >= TEXT_CONTRAST


def test_a_light_primary_colour_is_never_used_for_text():
    props = theme_properties(Site(colours={"primary": "#ffee00"}))
    assert props["--site-on-primary"] == "#000000"            # black text on the yellow buttons
    assert props["--site-primary-text"] != "#ffee00"          # links are a darker shade of it
    assert contrast(props["--site-primary-text"], "#ffffff") >= TEXT_CONTRAST
    assert theme_css(NO_SITE) == "/* No site colours */\n"


# --- where to go next ---------------------------------------------------------------------------------

DOG = {"inu_kind_of_application": {"value": "new"}, "inu_name": {"value": "ポチ"}, "inu_breed": {"value": "柴犬"},
       "inu_colour": {"value": "茶"}, "inu_sex": {"value": "male"},
       "inu_birth_date": {"era": "western", "year": "2024", "month": "4", "day": "1"}}


def kiosk_done(kiosk: Kiosk, event: str, procedures: list[str], lang: str = "en", answers=None) -> str:
    kiosk.start(lang)
    kiosk.read_card()
    kiosk.choose(event, procedures)
    kiosk.answer_all(answers)
    r = kiosk.print_and_wait()
    assert r.request.path == "/kiosk/done", kiosk.text
    return kiosk.text


def next_steps_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.search(r'<ol class="k-next-steps">(.*?)</ol>', html, re.S).group(1))


def test_the_kiosk_sends_each_form_to_its_section_floor_and_window(make_app):
    kiosk = Kiosk(make_app(surfaces="kiosk"))
    html = kiosk_done(kiosk, "certificates", ["juminhyo"])
    assert '<p class="k-next-office">Kaku City Hall (main building)</p>' in html
    steps = next_steps_of(html)
    assert "Take your forms to: Citizens Division" in steps
    assert '<p class="k-next-where">Floor 1, window 3</p>' in steps
    assert "Opening hours: Weekdays 8:30–17:15" in steps


def test_the_kiosk_uses_the_office_it_stands_in(make_app):
    kiosk = Kiosk(make_app(surfaces="kiosk", kiosk={"office": "minami"}))
    steps = next_steps_of(kiosk_done(kiosk, "certificates", ["juminhyo"], lang="ja"))
    assert "市民窓口係" in steps and '<p class="k-next-where">1階 1番窓口</p>' in steps and "市民課" not in steps
    assert "受付時間：平日 8時30分〜17時15分" in steps


def test_a_form_no_section_takes_goes_to_its_procedures_own_section(make_app):
    kiosk = Kiosk(make_app(SMALL_TOWN, surfaces="kiosk"))
    steps = next_steps_of(kiosk_done(kiosk, "certificates", ["juminhyo"]))
    assert "Residents&#39; Counter" in steps and "Floor 1, window 2" in steps
    assert "Opening hours: Weekdays 9:00–16:00" in steps               # the section's own hours
    proc = get_catalogue().get("zei_shomei")
    kiosk = Kiosk(make_app(SMALL_TOWN, surfaces="kiosk"))
    steps = next_steps_of(kiosk_done(kiosk, "certificates", ["zei_shomei"], answers=TAX))
    assert f"Take your forms to: {proc.section['en']}" in steps and "k-next-where" not in steps


TAX = {"tax_certificate_type": {"value": "shotoku"}, "tax_fiscal_year": {"value": "2025"}, "tax_copies": {"value": "1"}}
PERSON = {"name": {"name": "山田\u3000花子"}, "kana": {"kana": "やまだ　はなこ"},
          "birth_date": date_parts("birth_date", 1990, 5, 1), "sex": {"sex": "female"},
          "postal_code": {"postal_code": "1000001"},
          "address": {"address__town": "東京都千代田区千代田", "address__rest": "1-1"}, "phone": {"phone": ""},
          "juminhyo_scope": {"juminhyo_scope": "self"}, "juminhyo_copies": {"juminhyo_copies": "1"},
          "juminhyo_include_head": {}, "juminhyo_include_honseki": {}, "juminhyo_include_my_number": {},
          "juminhyo_purpose": {}}
DOG_PREREG = {"inu_kind_of_application": {"inu_kind_of_application": "new"}, "inu_name": {"inu_name": "ポチ"},
              "inu_breed": {"inu_breed": "柴犬"}, "inu_colour": {"inu_colour": "茶"}, "inu_sex": {"inu_sex": "male"},
              "inu_birth_date": date_parts("inu_birth_date", 2024, 4, 1)}


def prereg_done(client, event: str, procedures: list[str], lang: str = "en") -> str:
    w = Walker(client, lang)
    w.get("/prereg/event")
    w.post({"event": event})
    answer_guide(w)
    w.post({"procedures": procedures})
    answer_all(w, {**PERSON, **DOG_PREREG})
    w.post({})
    assert w.at() == "/prereg/done", w.page[:2000]
    return re.sub(r"\s+", " ", w.page)


def test_prereg_names_every_office_that_takes_the_forms_main_office_first(make_app):
    page = prereg_done(make_app(surfaces="prereg").test_client(), "moving_in", ["inu_toroku"])
    assert "Take the forms to one of these offices:" in page
    main, branch = page.index("Kaku City Hall (main building)"), page.index("Kaku City Hall, South Branch")
    assert main < branch
    at_main, at_branch = page[main:branch], page[branch:]
    assert "Take the forms to: Environmental Health Division (Application for Dog Registration)." in at_main
    assert "Floor 3, window 21" in at_main and "Opening hours: Weekdays 8:30–17:15" in at_main
    assert "架空県架空市中央一丁目1番1号" in at_main
    assert "Citizens&#39; Counter" in at_branch and "Floor 1, window 1" in at_branch


def test_prereg_falls_back_to_the_procedures_own_section(make_app):
    page = prereg_done(make_app(SMALL_TOWN, surfaces="prereg").test_client(), "certificates", ["juminhyo"], "ja")
    assert "次の庁舎へ申請書をお持ちください：" in page and "試験町役場" in page and "1階 2番窓口" in page
    assert "受付時間：平日 9時〜16時" in page                    # the section's hours, besides the office's
    # 犬の登録 is not a procedure of this town at all; a built-in no office takes keeps its own text.
    app = make_app(SMALL_TOWN, surfaces="prereg")
    with app.test_request_context("/prereg/"):
        g.lang = "en"
        offices, elsewhere = places_in_every_office(["juminhyo", "zei_shomei"], get_catalogue())
    assert [o.name for o in offices] == ["Test Town Hall"]
    assert [p.section for p in offices[0].places] == ["Residents' Counter"]
    tax = get_catalogue().get("zei_shomei")
    assert [(p.section, p.forms) for p in elsewhere] == [(tax.section["en"], [tax.title("en")])]


# --- the privacy notice --------------------------------------------------------------------------

def footer_of(html: str) -> str:
    return re.search(r'<p class="privacy-notice">(.*?)</p>', html, re.S).group(1)


def test_prereg_shows_the_sites_privacy_notice_in_each_language(make_app):
    client = make_app(surfaces="prereg").test_client()
    def notice(lang):
        return footer_of(client.get(f"/prereg/?lang={lang}").get_data(as_text=True))
    assert notice("ja").startswith("架空市は、この申請で伺った個人情報")
    assert notice("en").startswith("Kaku City uses the personal")
    assert notice("ja-easy").startswith("かくうしは、")


def test_without_a_notice_of_its_own_prereg_keeps_the_built_in_one(make_app):
    client = make_app(SMALL_TOWN, surfaces="prereg").test_client()
    assert footer_of(client.get("/prereg/?lang=en").get_data(as_text=True)).startswith("Your answers are encrypted.")


# --- a procedure switched off --------------------------------------------------------------------

def test_prereg_offers_a_switched_off_procedure_nowhere(make_app):
    client = make_app(SMALL_TOWN, surfaces="prereg").test_client()
    w = Walker(client, "en")
    w.get("/prereg/event")
    w.post({"event": "moving_in"})
    assert "wants_seal" not in answer_guide(w)      # no question for a procedure switched off
    assert 'value="juminido"' in w.page and 'value="inkan_toroku"' not in w.page
    r = w.post({"procedures": ["inkan_toroku"]}, expect=400)
    assert "Select at least one procedure" in r.get_data(as_text=True)
    spec = client.get("/prereg/api/v1/openapi.json").get_json()
    enum = spec["components"]["schemas"]["Application"]["properties"]["procedures"]["items"]["enum"]
    assert "inkan_toroku" not in enum and "juminhyo" in enum
    r = client.post("/prereg/api/v1/applications", json={"procedures": ["inkan_toroku"], "name": "山田　花子"})
    assert r.status_code in (400, 422) and r.is_json


def test_the_kiosk_offers_a_switched_off_procedure_nowhere(make_app):
    kiosk = Kiosk(make_app(SMALL_TOWN, surfaces="kiosk"))
    kiosk.start("en")
    kiosk.read_card()
    kiosk.post("/kiosk/purpose", {"event": "moving_in"})
    page = kiosk.get("/kiosk/procedures").get_data(as_text=True)
    assert 'value="juminido"' in page and 'value="inkan_toroku"' not in page
    r = kiosk.post("/kiosk/procedures", {"procedure": ["inkan_toroku"]})
    assert r.location == "/kiosk/procedures" and "inkan_toroku" not in kiosk.visit().procedures


def test_the_counter_offers_a_switched_off_procedure_nowhere(make_app, clerks):
    client = sign_in(make_app(SMALL_TOWN, surfaces="counter").test_client())
    queue = client.get("/counter/?lang=en").get_data(as_text=True)
    select = re.search(r'<select id="procedure".*?</select>', queue, re.S).group(0)
    options = re.findall(r'<option value="([a-z_]+)"', select)
    assert "juminhyo" in options and "inkan_toroku" not in options


# --- the demo's own procedure, 犬の登録 ---------------------------------------------------------------

def test_the_demos_dog_registration_joins_moving_in_and_completes_on_prereg(make_app):
    client = make_app(surfaces="prereg").test_client()
    w = Walker(client, "ja")
    w.get("/prereg/event")
    w.post({"event": "moving_in"})
    answer_guide(w, {"has_dog": "yes"})
    assert 'value="inu_toroku"' in w.page and "犬を飼い始めた（犬の登録）" in w.page
    assert "狂犬病予防法" in w.page                    # the guide's reason, the demo city's own rule
    page = prereg_done(client, "moving_in", ["inu_toroku"], "ja")
    assert "犬の登録申請書" in page and "狂犬病予防注射済証" in page and "3階 21番窓口" in page


def test_the_demos_dog_registration_is_printed_at_the_kiosk_on_its_own_form(make_app, tmp_path):
    kiosk = Kiosk(make_app(surfaces="kiosk"))
    kiosk.start("ja")
    kiosk.read_card()
    kiosk.post("/kiosk/purpose", {"event": "moving_in"})
    assert 'value="inu_toroku"' in kiosk.get("/kiosk/procedures").get_data(as_text=True)
    kiosk.post("/kiosk/procedures", {"procedure": ["inu_toroku"]})
    asked = kiosk.answer_all(DOG)
    assert {"inu_name", "inu_breed", "inu_birth_date"} <= set(asked) and "inu_previous_tag" not in asked
    r = kiosk.print_and_wait()
    assert r.request.path == "/kiosk/done", kiosk.text
    steps = next_steps_of(kiosk.text)
    assert "環境衛生課" in steps and "3階 21番窓口" in steps and "犬の登録申請書" in steps
    [pdf] = list((tmp_path / "var" / "printed").glob("*.pdf"))
    text = "".join(page.extract_text() or "" for page in PdfReader(pdf).pages)
    background = "".join(page.extract_text() or "" for page in PdfReader(
        DEMO_SITE / "procedures" / "backgrounds" / "inu_toroku.pdf").pages)
    assert "ポチ" in text and "柴犬" in text
    assert any(word in text for word in re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]{3,}", background)[:5])
