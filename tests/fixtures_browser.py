"""Headless Chromium (Debian's) driven by Playwright for Python."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium tries to reach Google's hosts at every start on this closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP")
    pg = context.new_page()
    yield pg
    context.close()


# --- accessibility: axe-core (npm package, `npm install` puts it in node_modules/) ---------
AXE_JS = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA plus best practices, as the Digital Agency's guidelines ask.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@pytest.fixture
def axe_page(browser):
    """A phone-sized page whose context ignores the CSP, so axe-core can be injected.

    Use it only for accessibility checks: flows that must prove they work under the CSP use `page`.
    """
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `npm install` (make test does)")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", bypass_csp=True)
    pg = context.new_page()
    yield pg
    context.close()


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page as it is now; returns the violations (empty = none)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}: {violations}"
