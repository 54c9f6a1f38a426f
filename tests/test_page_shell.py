"""One page shell for every surface: each page extends web/templates/base.html, loads its scripts
through the base's one `scripts` hook, and shows problems in the one error summary of
web/templates/macros/forms.html (its focus on load and its links are madoguchi.js's, in the
browser tests of each surface)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from jinja2 import nodes

from tests.fixtures_counter import post
from tests.prereg_helpers import Walker

BASE = "base.html"


def _parent(env, name: str) -> str | None:
    source = env.loader.get_source(env, name)[0]
    extends = list(env.parse(source).find_all(nodes.Extends))
    return extends[0].template.value if extends else None


def test_every_page_template_extends_the_one_base(app):
    env = app.jinja_env
    pages = [n for n in env.list_templates(extensions=["html"])
             if not n.startswith("macros/") and not n.rsplit("/", 1)[-1].startswith("_") and n != BASE]
    assert {p.split("/")[0] for p in pages} >= {"prereg", "kiosk", "counter"}
    for name in pages:
        chain, at = [name], name
        while (at := _parent(env, at)) is not None:
            chain.append(at)
        assert chain[-1] == BASE, f"{name} does not extend {BASE}: {' → '.join(chain)}"
    # Only the base writes the document itself.
    for name in env.list_templates(extensions=["html"]):
        if name != BASE:
            source = env.loader.get_source(env, name)[0].lower()
            assert "<!doctype" not in source and "<html" not in source and "<body" not in source, name


def test_only_the_forms_macro_writes_an_error_summary(app):
    env = app.jinja_env
    for name in env.list_templates(extensions=["html"]):
        if name == "macros/forms.html":
            continue
        source = env.loader.get_source(env, name)[0]
        assert "There is a problem" not in source and not re.search(r'role="alert"\s+tabindex', source), name
        assert "data-error-summary" not in source and "data-focus-on-load" not in source, name


class _Summary(HTMLParser):
    """The error summary's elements, each as (depth, tag, attributes that make its behaviour)."""

    KEPT = ("role", "tabindex", "aria-labelledby", "data-module", "id")

    def __init__(self):
        super().__init__()
        self.depth = 0       # > 0 inside the summary
        self.shape: list[tuple] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts: list[dict] = []
        self.skip_link = self.main = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "script":
            self.scripts.append(a)
        if tag == "a" and a.get("class") == "skip-link" and a.get("href") == "#main":
            self.skip_link = True
        if tag == "main" and a.get("id") == "main" and a.get("tabindex") == "-1":
            self.main = True
        if self.depth == 0 and a.get("data-module") != "error-summary":
            return
        classes = [c for c in (a.get("class") or "").split() if c.startswith("error-summary")]
        self.shape.append((self.depth, tag, tuple(classes), tuple((k, a.get(k)) for k in self.KEPT if k in a)))
        if tag == "a":
            self.links.append(a.get("href", ""))
        self.depth += 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1


def _read(html: str) -> _Summary:
    parser = _Summary()
    parser.feed(html)
    return parser


def _prereg_error_page(client) -> str:
    w = Walker(client, "en")
    w.get("/prereg/event")
    w.post({}, follow=False)                 # nothing chosen
    return w.page


def _kiosk_error_page(kiosk) -> str:
    kiosk.start("en")
    kiosk.read_card(pin="1234")
    kiosk.post("/kiosk/purpose", {"event": "moving_in"})
    kiosk.get("/kiosk/procedures")
    kiosk.post("/kiosk/procedures", {"procedure": re.findall(r'name="procedure" value="([^"]+)" checked', kiosk.text)})
    kiosk.post("/kiosk/ask/kana", {"action": "save", "value": ""})   # a required answer left empty
    return kiosk.text


def _counter_error_page(client) -> str:
    client.get("/counter/?lang=en")
    return post(client, "/counter/sign-in", {"username": "", "password": ""}).get_data(as_text=True)


@pytest.fixture
def error_pages(client, kiosk, clerks):
    return {"prereg": _prereg_error_page(client), "kiosk": _kiosk_error_page(kiosk),
            "counter": _counter_error_page(client)}


def test_each_surface_shows_its_problems_in_the_same_summary_inside_the_same_shell(error_pages):
    shapes = {}
    for surface, html in error_pages.items():
        page = _read(html)
        # The base's shell: the skip link to <main>, the title's "Error:", and the one script hook:
        # madoguchi.js (which focuses the summary) first, every script a deferred file.
        assert page.skip_link and page.main, surface
        assert re.search(r"<title>Error: ", html), surface
        assert page.scripts and page.scripts[0]["src"] == "/static/madoguchi.js", (surface, page.scripts)
        assert all(s.get("src") and "defer" in s for s in page.scripts), (surface, page.scripts)
        assert len({s["src"] for s in page.scripts}) == len(page.scripts), surface
        # The summary: an alert that can take the focus, titled "There is a problem", each problem a
        # link to a field on the page.
        assert page.shape, f"{surface}: no error summary"
        assert page.shape[0][3] == (("role", "alert"), ("tabindex", "-1"),
                                    ("aria-labelledby", "error-summary-title"), ("data-module", "error-summary"))
        assert re.search(r'<h2 class="error-summary-title" id="error-summary-title">There is a problem</h2>', html)
        assert page.links and all(h.startswith("#") and h[1:] in page.ids for h in page.links), (surface, page.links)
        shapes[surface] = [s for s in page.shape if s[1] not in ("li", "a")]
    assert shapes["prereg"] == shapes["kiosk"] == shapes["counter"], shapes


def test_the_kiosk_summary_keeps_its_larger_type_by_a_class(error_pages):
    box = re.search(r'<div class="([^"]*)"[^>]*data-module="error-summary"', error_pages["kiosk"]).group(1)
    assert box.split() == ["error-summary", "k-error-summary"]
    assert "k-error-summary" not in error_pages["prereg"] + error_pages["counter"]
