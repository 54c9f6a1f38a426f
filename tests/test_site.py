"""The city's own folder (core.site): read and checked with messages naming file, line and key;
its procedures resolved over the built-in ones; the same catalogue for every part."""
from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from core.catalogue import BUILTIN_DIR, NON_PROCEDURE_FILES, get_catalogue
from core.site import (
    NO_SITE,
    SiteError,
    activate,
    check_site,
    current_site,
    is_lgu_code,
    key_lines,
    lgu_check_digit,
    line_of,
    load_site,
    schema,
)
from tests.conftest import DEMO_SITE
from tests.helpers import madoguchi


@pytest.fixture
def city(tmp_path) -> Path:
    """A copy of the demo's folder to break or change."""
    folder = tmp_path / "city"
    shutil.copytree(DEMO_SITE, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


# --- the folder ------------------------------------------------------------------------------

def test_the_check_digit_of_real_codes():
    # 千代田区 131016, 札幌市 011002, 大阪市 271004, 那覇市 472018
    assert [lgu_check_digit(c) for c in ("13101", "01100", "27100", "47201")] == [6, 2, 4, 8]
    assert is_lgu_code("131016") and not is_lgu_code("131017") and not is_lgu_code("13101")


def test_the_demo_site_is_a_fictional_city_with_offices_and_a_procedure_of_its_own():
    site = load_site(DEMO_SITE)
    assert site.name["ja"] == "架空市" and site.code == "990019" and site.addressee["ja"] == "架空市長　あて"
    assert [o.id for o in site.offices] == ["honcho", "minami"]
    assert [s.window for s in site.sections_for("inu_toroku")] == ["21"]
    assert [s.id for s in site.sections_for("inu_toroku", "minami")] == ["madoguchi"]
    assert site.logo == DEMO_SITE.resolve() / "logo.svg" and site.colours["primary"] == "#1d5b79"
    assert check_site(DEMO_SITE) == []
    assert "inu_toroku" in get_catalogue().procedures
    assert "inu_toroku" in get_catalogue().event("moving_in").procedures   # it names the event


def test_key_lines_point_at_tables_arrays_and_inline_keys():
    text = ("[municipality]\nname = { ja = \"x\" }\n\n[[offices]]\nid = \"a\"\n[[offices.sections]]\nid = \"s\"\n"
            "[[offices]]\nid = \"b\"\n[[offices.sections]]\nid = \"t\"\n[[offices.sections]]\nid = \"u\"\n")
    lines = key_lines(text)
    assert lines["offices[1].sections[1].id"] == 13 and lines["offices[0].sections[0].id"] == 7
    assert line_of(text, "municipality.name.en") == 2          # inside an inline table: its key's line
    assert line_of(text, "offices[1].sections[0].floor") == 10  # an absent key: its table's line


@pytest.mark.parametrize("file, old, new, expected", [
    ("site.toml", 'code = "990019"', 'code = "990018"', "site.toml:9: municipality.code: must be the 6-digit"),
    ("site.toml", 'primary_colour = "#1d5b79"', 'primary_colour = "blue"', "site.toml:15: branding.primary_colour:"),
    ("site.toml", "[privacy]", "[privacy]\nnotise = 1", "site.toml:19: privacy.notise: is not a known key"),
    ("site.toml", 'logo = "logo.svg"', 'logo = "../../etc/passwd.svg"', "site.toml:14: branding.logo: must be a file"),
    ("offices.toml", 'id = "kankyo"', 'id = "Kankyo!"', "offices.toml:33: offices[0].sections[3].id: must be an id"),
    ("offices.toml", 'procedures = ["inu_toroku", "inu_henko"]', 'procedures = ["inu_torok", "inu_henko"]',
     "offices.toml:37: offices[0].sections[3].procedures[0]: inu_torok is not a procedure of the catalogue"),
    ("procedures/inu_toroku.toml", "fee = 3000", "fee = -3", "procedures/inu_toroku.toml:5: fee: -3 is less than"),
    ("procedures/inu_toroku.toml", 'name = "inu_name"\ntype = "text"', 'name = "inu_name"\ntype = "txt"',
     "procedures/inu_toroku.toml:"),
    ("site.toml", "disabled = []", 'disabled = ["no_such"]', "cannot switch off unknown procedures"),
    ("procedures/layouts/inu_toroku.toml", 'source = "inu_breed"\nx = 132', 'source = "inu_breed"\nx = "132"',
     "inu_toroku.toml"),
])
def test_site_check_names_the_file_line_and_key(city, file, old, new, expected):
    edit(city / file, old, new)
    problems = check_site(city)
    assert problems and any(expected in p for p in problems), problems


def test_a_procedure_of_the_citys_own_needs_its_texts(city):
    (city / "procedures" / "gomi.toml").write_text('id = "gomi"\n[names]\nja = "粗大ごみ"\n', "utf-8")
    problems = check_site(city)
    assert "procedures/gomi.toml: form_title: is required for a procedure of the city's own" in problems
    assert "procedures/gomi.toml: person_fields: is required for a procedure of the city's own" in problems


def test_a_broken_folder_stops_the_start_naming_the_file_and_key(city, tmp_path, config):
    from web import create_app
    edit(city / "site.toml", 'code = "990019"', 'code = "99001"')
    with pytest.raises(SiteError) as e:
        create_app(config.replace({"site": {"folder": str(city)}}))
    assert f"{city.resolve()}/site.toml:9: municipality.code" in str(e.value)
    cfg = tmp_path / "broken.toml"
    cfg.write_text(f'[site]\nfolder = "{city}"\n[storage]\npath = "{tmp_path / "x.db"}"\n', "utf-8")
    r = madoguchi("--config", str(cfg), "procedures", "list")
    assert r.returncode == 1 and "site.toml:9: municipality.code" in r.stderr and "Traceback" not in r.stderr
    r = madoguchi("--config", str(cfg), "site", "check")
    assert r.returncode == 1 and "site.toml:9: municipality.code" in r.stdout


def test_site_new_writes_a_folder_that_passes_its_check(tmp_path):
    folder = tmp_path / "aoba"
    r = madoguchi("site", "new", str(folder), "--name", "青葉市", "--code", "123455")
    assert r.returncode == 0, r.stderr
    assert check_site(folder) == []
    site = load_site(folder)
    assert site.name["ja"] == "青葉市" and site.addressee["ja"] == "青葉市長　あて"
    assert [s.id for s in site.office().sections] == ["shimin", "kosodate", "zeimu"]
    r = madoguchi("site", "new", str(tmp_path / "other"), "--name", "青葉市", "--code", "123456")
    assert r.returncode == 2 and "123455" in r.stderr    # the right check digit is suggested
    r = madoguchi("site", "new", str(folder), "--name", "青葉市", "--code", "123455")
    assert r.returncode == 1 and "exists already" in r.stderr


# --- the catalogue of a site -----------------------------------------------------------------

def test_a_site_file_overrides_only_the_keys_it_sets_and_can_switch_built_ins_off(city):
    (city / "procedures" / "juminhyo.toml").write_text(
        'id = "juminhyo"\nfee = 250\n[section]\nja = "市民窓口課"\nen = "Citizens\' Counter"\n', "utf-8")
    edit(city / "site.toml", "disabled = []", 'disabled = ["jido_teate"]')
    edit(city / "offices.toml", 'procedures = ["jido_teate", "kodomo_iryo"]', 'procedures = ["kodomo_iryo"]')
    edit(city / "offices.toml", '"zei_shomei", "inu_toroku", "inu_henko"]', '"zei_shomei", "inu_toroku", "inu_henko"]')
    text = (city / "offices.toml").read_text("utf-8").replace('"inkan_shomei", "jido_teate", ', '"inkan_shomei", ')
    (city / "offices.toml").write_text(text, "utf-8")
    assert check_site(city) == []
    builtin = get_catalogue().get("juminhyo")
    before = get_catalogue().version
    activate(load_site(city))
    cat = get_catalogue()
    own = cat.get("juminhyo")
    assert own.fee == 250 and own.section["ja"] == "市民窓口課"
    assert own.names == builtin.names and [f.name for f in own.fields] == [f.name for f in builtin.fields]
    assert "jido_teate" not in cat.procedures
    assert all("jido_teate" not in ev.procedures for ev in cat.life_events.values())
    assert cat.version != before


def test_a_site_layout_replaces_the_built_in_one(city):
    from printing.layout import load_layout
    builtin = (BUILTIN_DIR / "layouts" / "juminhyo.toml").read_text("utf-8")
    (city / "procedures" / "layouts" / "juminhyo.toml").write_text(builtin.replace('page = "A4"', 'page = "A4"\n'
                                                                                   'title = "架空市の住民票請求"'),
                                                                   "utf-8")
    activate(load_site(city))
    assert load_layout("juminhyo", get_catalogue()).title == "架空市の住民票請求"
    activate(NO_SITE)
    assert load_layout("juminhyo", get_catalogue()).title != "架空市の住民票請求"
    assert current_site() is NO_SITE


def test_the_forwarded_record_names_the_catalogue_and_the_municipality(db):
    from core import outbox
    from tests.fixtures_counter import kiosk_application
    app = kiosk_application(db)
    record = outbox.confirm(db, app, actor="clerk:sato")
    assert record["schema"] == "madoguchi.record/3"
    assert record["catalogue_version"] == get_catalogue().version and len(record["catalogue_version"]) == 16
    assert record["municipality_code"] == "990019"
    record_schema = json.loads((Path(__file__).resolve().parent.parent / "docs" / "record.schema.json").read_text())
    Draft202012Validator(record_schema).validate(record)


# --- the published schemas -------------------------------------------------------------------

def test_every_procedure_file_meets_the_published_schema():
    validator = Draft202012Validator(schema("procedure"))
    files = [p for p in BUILTIN_DIR.glob("*.toml") if p.stem not in NON_PROCEDURE_FILES]
    files += [p for p in (DEMO_SITE / "procedures").glob("*.toml") if p.stem not in NON_PROCEDURE_FILES]
    assert len(files) >= 7
    for path in files:
        errors = list(validator.iter_errors(tomllib.loads(path.read_text("utf-8"))))
        assert errors == [], (path.name, [e.message for e in errors])
    bad = tomllib.loads((BUILTIN_DIR / "juminhyo.toml").read_text("utf-8")) | {"fees": 1}
    assert any("fees" in e.message for e in validator.iter_errors(bad))
    for name, file in (("site", "site.toml"), ("offices", "offices.toml")):
        assert list(Draft202012Validator(schema(name)).iter_errors(
            tomllib.loads((DEMO_SITE / file).read_text("utf-8")))) == []


def test_the_schemas_are_published(client):
    for name in ("procedure", "site", "offices"):
        r = client.get(f"/schemas/{name}.schema.json")
        assert r.status_code == 200 and json.loads(r.get_data())["$id"].endswith(f"{name}.schema.json")
    assert client.get("/schemas/../config.schema.json").status_code == 404
    assert client.get("/schemas/nothing.schema.json").status_code == 404


@pytest.mark.parametrize("old, new, expected", [
    ('source = "inu_breed"\nx = 132', 'source = "inu_breed"\nx = 190', "is off the page"),
    ('source = "inu_breed"\nx = 132', 'source = "inu_breed"\nx = 60', "over"),
])
def test_site_check_refuses_a_field_off_the_page_or_over_another(city, old, new, expected):
    edit(city / "procedures" / "layouts" / "inu_toroku.toml", old, new)
    problems = check_site(city)
    assert any("inu_toroku.toml:" in p and "fields[" in p and expected in p for p in problems), problems
