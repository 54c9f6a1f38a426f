"""The layout editor's server side (/counter/admin/layouts): admins only; saving writes the
site folder's layout (checked by the layout parser, atomically, the old file kept as .bak)
with an admin-log entry of hashes; previews are PNGs; imports go through `form import`'s code;
hostile input gets a 400 with a message and changes nothing."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import tomllib

import pytest

from core import admin_log
from core.catalogue import get_catalogue
from core.config import load_config
from printing.layout import load_layout
from tests.conftest import DEMO_SITE
from tests.fixtures_counter import csrf_token, sign_in
from tests.form_helpers import encrypted_pdf, rotated_pdf, scanned_pdf
from tests.helpers import ROOT

INU_PDF = DEMO_SITE / "procedures" / "backgrounds" / "inu_toroku.pdf"


@pytest.fixture
def site(tmp_path):
    """A copy of the demo site, so saving never touches the repository's."""
    folder = tmp_path / "site"
    shutil.copytree(DEMO_SITE, folder)
    return folder


@pytest.fixture
def editor_app(tmp_path, site, overrides):
    from web import create_app
    app = create_app(load_config(ROOT / "config.toml", overrides=overrides(site={"folder": str(site)}),
                                 base_dir=tmp_path))
    app.config["TESTING"] = True
    return app


@pytest.fixture
def admin(editor_app, clerks):
    return sign_in(editor_app.test_client(), "tanaka")


def editor_data(client, pid: str) -> dict:
    r = client.get(f"/counter/admin/layouts/{pid}")
    assert r.status_code == 200
    return json.loads(re.search(r'id="layout-editor-data">(.*?)</script>', r.get_data(as_text=True), re.S).group(1))


def send(client, url: str, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, data=data, headers={"X-CSRF-Token": csrf_token(client), "Content-Type": content_type})


def test_only_admins_reach_the_editor(editor_app, clerks):
    for who in ("sato", "suzuki"):
        c = sign_in(editor_app.test_client(), who)
        assert c.get("/counter/admin/layouts").status_code == 403
        assert send(c, "/counter/admin/layouts/inu_toroku", {"layout": {}}).status_code == 403
    assert editor_app.test_client().get("/counter/admin/layouts").status_code == 302    # to the sign-in


def test_the_list_names_every_procedure_and_where_its_layout_is(admin):
    page = admin.get("/counter/admin/layouts").get_data(as_text=True)
    for pid in get_catalogue().procedures:
        assert f'id="layout-{pid}"' in page
    row = re.search(r'id="layout-inu_toroku".*?</tr>', page, re.S).group(0)
    assert "inu_toroku.pdf" in row


def test_saving_writes_the_site_layout_keeps_a_backup_and_logs_hashes(admin, site, editor_app):
    data = editor_data(admin, "inu_toroku")
    target = site / "procedures" / "layouts" / "inu_toroku.toml"
    before = target.read_bytes()
    assert data["sha256"] == hashlib.sha256(before).hexdigest()
    layout = data["layout"]
    name = next(f for f in layout["fields"] if f.get("source") == "name")
    name["x"], name["size"] = 50, 14
    r = send(admin, "/counter/admin/layouts/inu_toroku", {"layout": layout})
    assert r.status_code == 200, r.get_json()
    assert (site / "procedures" / "layouts" / "inu_toroku.toml.bak").read_bytes() == before
    after = target.read_bytes()
    saved = tomllib.loads(after.decode("utf-8"))
    assert next(f for f in saved["fields"] if f.get("source") == "name")["x"] == 50
    assert saved["background"] == "backgrounds/inu_toroku.pdf"
    with editor_app.app_context():
        from core.site import current_site
        from web import get_db
        assert current_site().folder == site
        entry = next(admin_log.entries(get_db(), "inu_toroku"))
        layout_now = load_layout("inu_toroku")
    assert next(f for f in layout_now.fields if f.source == "name").x == 50
    assert (entry["actor"], entry["action"]) == ("clerk:tanaka", "layout_saved")
    assert entry["before_sha256"] == hashlib.sha256(before).hexdigest()
    assert entry["after_sha256"] == hashlib.sha256(after).hexdigest() == r.get_json()["sha256"]


def test_a_built_in_layout_is_saved_into_the_site_folder(admin, site):
    layout = editor_data(admin, "juminhyo")["layout"]
    builtin = (ROOT / "core" / "procedures" / "layouts" / "juminhyo.toml").read_bytes()
    layout["fields"][0]["x"] += 1
    version = get_catalogue().version
    assert send(admin, "/counter/admin/layouts/juminhyo", {"layout": layout}).status_code == 200
    assert get_catalogue().version != version    # forwarded records name the catalogue with this layout
    assert (site / "procedures" / "layouts" / "juminhyo.toml").is_file()
    assert (ROOT / "core" / "procedures" / "layouts" / "juminhyo.toml").read_bytes() == builtin


def test_the_preview_is_a_png_and_the_household_of_eight_overflows(admin):
    layout = editor_data(admin, "juminido")["layout"]
    r = send(admin, "/counter/admin/layouts/juminido/render?kind=sample&page=2", {"layout": layout})
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert r.headers["X-Pages"] == "2"          # the form and its 別紙
    blank = send(admin, "/counter/admin/layouts/juminido/render?kind=blank", {"layout": layout})
    assert blank.status_code == 200 and blank.headers["X-Pages"] == "1"


def off_page(layout):
    layout["fields"][0]["x"] = 400
    return layout


def unknown_source(layout):
    layout["fields"][0]["source"] = "not_a_field"
    return layout


def unknown_key(layout):
    layout["fields"][0]["colour"] = "red"
    return layout


def bad_background(layout):
    layout["background"] = "../../../../etc/passwd"
    return layout


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "bad_json"),
    (b'"a string"', "not_layout"),
    ({"layout": []}, "not_layout"),
    ({"layout": {"fields": "many"}}, "not_layout"),
    ({"layout": {"page": "A4", "shape": "round"}}, "not_layout"),
    ({"layout": {"page": "A9"}}, "layout_invalid"),
    ({"layout": {"page": "A4", "fields": [{"type": "text", "x": 1e308, "y": 0, "w": 1, "h": 1}]}}, None),
    ({"layout": {"page": "A4", "fields": [{"type": "text", "x": 10, "y": 10, "w": 10, "h": 5, "size": None}]}},
     "layout_invalid"),
    (off_page, None),
    (unknown_source, "layout_invalid"),
    (unknown_key, "layout_invalid"),
    (bad_background, "bad_background"),
    (b"{" * 5000 + b"}" * 5000, "bad_json"),
    (b"x" * (300 * 1024), "too_large"),
])
def test_hostile_layouts_get_a_400_with_a_message_and_change_nothing(admin, site, body, code):
    target = site / "procedures" / "layouts" / "inu_toroku.toml"
    before = target.read_bytes()
    if callable(body):
        body = {"layout": body(editor_data(admin, "inu_toroku")["layout"])}
    for url in ("/counter/admin/layouts/inu_toroku", "/counter/admin/layouts/inu_toroku/render?kind=sample"):
        r = send(admin, url, body)
        assert r.status_code == 400, (url, r.status_code, r.get_data(as_text=True)[:300])
        answer = r.get_json()
        assert answer["message"]
        if code:
            assert answer["error"] == code
        else:   # off the page: the layout checks' code (layout_problems), or the editor's own
            assert answer["error"] in ("layout_problem", "off_page"), answer
    assert target.read_bytes() == before
    assert not (site / "procedures" / "layouts" / "inu_toroku.toml.bak").exists()
    assert not list((site / "procedures" / "layouts").glob(".*"))      # no temporary file left
    assert not [p.name for p in (site / "procedures").iterdir() if p.name.startswith(".")]


def test_without_the_csrf_token_nothing_is_saved(admin, site):
    r = admin.post("/counter/admin/layouts/inu_toroku", data=json.dumps({"layout": {}}),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert not (site / "procedures" / "layouts" / "inu_toroku.toml.bak").exists()


def test_unknown_procedures_and_bad_render_arguments(admin):
    assert admin.get("/counter/admin/layouts/nope").status_code == 404
    assert send(admin, "/counter/admin/layouts/nope", {"layout": {}}).status_code == 404
    for query in ("kind=colour", "page=0", "page=x", "page=99999"):
        r = send(admin, f"/counter/admin/layouts/inu_toroku/render?{query}", {"layout": {"page": "A4"}})
        assert r.status_code == 400 and r.get_json()["message"], query
    r = send(admin, "/counter/admin/layouts/inu_toroku/render?kind=blank&page=3", {"layout": {"page": "A4"}})
    assert r.status_code == 400 and r.get_json()["error"] == "no_page"


def test_importing_the_blank_form_installs_it_and_proposes_its_fields(admin, site):
    pdf = INU_PDF.read_bytes()
    r = send(admin, "/counter/admin/layouts/inu_toroku/import", pdf, "application/pdf")
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    bg = answer["layout"]["background"]
    assert (site / "procedures" / bg).read_bytes() == pdf
    assert {"name", "address", "kana", "phone"} <= {f["source"] for f in answer["layout"]["fields"]}
    saved = send(admin, "/counter/admin/layouts/inu_toroku", {"layout": answer["layout"]})
    assert saved.status_code == 200, saved.get_json()
    assert tomllib.loads((site / "procedures" / "layouts" / "inu_toroku.toml").read_text("utf-8"))["background"] == bg




@pytest.mark.parametrize(("body", "code"), [
    (b"GIF89a not a pdf", "not_pdf"),
    (b"%PDF-1.4 broken", "not_pdf"),
    (encrypted_pdf(), "encrypted"),
    (rotated_pdf(), "rotated"),
    (b"%PDF-" + b"0" * (9 * 1024 * 1024), "too_large"),
])
def test_unusable_uploads_get_a_400_and_install_nothing(admin, site, body, code):
    listing = sorted((site / "procedures" / "backgrounds").iterdir())
    r = send(admin, "/counter/admin/layouts/inu_toroku/import", body, "application/pdf")
    assert r.status_code == 400 and r.get_json()["error"] == code and r.get_json()["message"]
    assert sorted((site / "procedures" / "backgrounds").iterdir()) == listing


def test_a_form_larger_than_the_apps_body_limit_is_taken(admin, site, editor_app):
    pdf = scanned_pdf(noisy=True)
    assert len(pdf) > editor_app.config["MAX_CONTENT_LENGTH"]
    r = send(admin, "/counter/admin/layouts/inu_toroku/import", pdf, "application/pdf")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.get_json()["image_only"] is True
    assert (site / "procedures" / r.get_json()["layout"]["background"]).read_bytes() == pdf


def test_a_scan_becomes_the_background_with_hand_placed_fields(admin, site):
    r = send(admin, "/counter/admin/layouts/inu_toroku/import", scanned_pdf(), "application/pdf")
    assert r.status_code == 200 and r.get_json()["image_only"] is True
    layout = r.get_json()["layout"]
    assert layout["fields"] == []
    layout["fields"] = [{"type": "text", "source": "name", "x": 30, "y": 40, "w": 100, "h": 10}]
    assert send(admin, "/counter/admin/layouts/inu_toroku", {"layout": layout}).status_code == 200
    shown = send(admin, "/counter/admin/layouts/inu_toroku/render?kind=sample", {"layout": layout})
    assert shown.status_code == 200 and shown.mimetype == "image/png"


@pytest.mark.parametrize("pid", sorted(get_catalogue().procedures))
def test_every_layout_survives_the_round_trip_through_the_writer(pid):
    from printing.layout_edit import current_table
    from printing.layout_file import dump_layout
    raw, _path, _data = current_table(get_catalogue().get(pid))
    assert tomllib.loads(dump_layout(raw, "a header\nof two lines", "a trailer")) == raw


def test_the_writer_escapes_what_toml_strings_cannot_hold():
    from printing.layout_file import dump_layout
    raw = {"title": 'a "quoted" \\ back\nslash\t\x01\x7f 𠮷', "fields": [{"labels": {"a b": "x", "new": "新規"}}]}
    assert tomllib.loads(dump_layout(raw)) == raw


def test_an_unreadable_layout_file_opens_as_an_empty_page_and_can_be_replaced(admin, site):
    target = site / "procedures" / "layouts" / "inu_toroku.toml"
    target.write_bytes(b"page = [unclosed\n\xff")
    r = admin.get("/counter/admin/layouts/inu_toroku")
    assert r.status_code == 200 and "inu_toroku.toml" in r.get_data(as_text=True)
    assert admin.get("/counter/admin/layouts").status_code == 200
    layout = {"page": "A4", "fields": [{"type": "text", "source": "name", "x": 30, "y": 40, "w": 100, "h": 10}]}
    assert send(admin, "/counter/admin/layouts/inu_toroku", {"layout": layout}).status_code == 200
    assert (site / "procedures" / "layouts" / "inu_toroku.toml.bak").read_bytes() == b"page = [unclosed\n\xff"


def hostile_fields():
    from hypothesis import strategies as st

    from printing.fields import COMMON, FIELD_TYPES
    keys = sorted(COMMON | {k for cls in FIELD_TYPES.values() for k in cls.keys} | {"bogus"})
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                     st.text(max_size=8), st.sampled_from(["name", "@today", "text", "check", "household", "qr"]))
    value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                         max_leaves=6)
    field = st.dictionaries(st.sampled_from(keys), value, max_size=8)
    return st.lists(field, max_size=4)


def test_random_layouts_never_get_a_500_nor_leave_a_file(admin, site):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    target = site / "procedures" / "layouts" / "inu_toroku.toml"
    layouts = site / "procedures" / "layouts"

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(fields=hostile_fields(), page=st.sampled_from(["A4", "A3", [100, 100], "A9", 3, None]))
    def check(fields, page):
        layout = {"fields": fields} if page is None else {"page": page, "fields": fields}
        r = send(admin, "/counter/admin/layouts/inu_toroku", {"layout": layout})
        assert r.status_code in (200, 400), (r.status_code, layout)
        assert r.get_json()["message"]
        tomllib.loads(target.read_text("utf-8"))          # whatever was saved loads
        assert not [p for p in layouts.iterdir() if p.name.startswith(".")]
    check()
