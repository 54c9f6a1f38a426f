"""Kiosk kanji candidates (kiosk/kanji.py): how long from a key press to the candidates.

    .venv/bin/python bench/kanji.py [--quick] [--no-browser]

Figures: the dictionaries' load time (once per process, in the background at `serve`); one
lookup per key press, typing every reading of a sample of SKK-JISYO.jinmei and .geo kana by
kana; the route (GET /kiosk/kanji) through Flask's test client; and, with Chromium, a key of
the on-screen keyboard touched → the candidate bar filled, in the browser, on a waitress
server. Target: 50 ms from key press to candidates.
"""
from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.kiosk_flow import _report as report  # noqa: E402  (one line per figure, as the kiosk benches print)
from bench.kiosk_flow import p95  # noqa: E402

TARGET_MS = 50.0
# Names typed in the browser (no ゛ keys needed), one key press each kana.
TYPED_NAMES = ["タカハシ", "ヤマサキ", "サトウ", "タナカ", "イトウ", "ナカムラ", "カトウ", "ヨシコ", "ハナコ",
               "イチロウ", "ヤマモト", "ハヤシ", "キムラ", "サイトウ", "ヒロシ", "マサコ"]

# A key of the visible keyboard touched → ms until the candidate list has candidates again, and
# until the next frame (what the visitor sees; headless Chromium draws at 60 frames a second).
KEY_TO_CANDIDATES_JS = """async (key) => {
  const list = document.querySelector('.k-keyboard:not([hidden]) [data-kanji-list]');
  const button = document.querySelector(
    `.k-keyboard:not([hidden]) .k-kb-layout:not([hidden]) button[data-key="${key}"]`);
  const started = performance.now();
  const filled = new Promise((resolve) => {
    const seen = new MutationObserver(() => {
      if (!list.children.length) return;
      seen.disconnect();
      const inPage = performance.now() - started;
      requestAnimationFrame(() => resolve([inPage, performance.now() - started]));   // the next frame: painted
    });
    seen.observe(list, { childList: true });
  });
  button.click();
  return await filled;
}"""
# The same request alone from the page: what the network and server take of the figure above.
FETCH_JS = """async (reading) => {
  const started = performance.now();
  await (await fetch('/kiosk/kanji?kind=name&reading=' + encodeURIComponent(reading), {cache: 'no-store'})).json();
  return performance.now() - started;
}"""


def summary(name: str, times: list[float]) -> None:
    report(f"{name} median", statistics.median(times), "ms")
    report(f"{name} p95", p95(times), "ms", f"≤ {TARGET_MS:.0f} ms", p95(times) <= TARGET_MS)


def key_presses(quick: bool) -> list[tuple[str, str]]:
    """(typed so far, kind) for each key press of a sample of dictionary readings."""
    from kiosk.kanji import SKK_FOLDER, parse_skk, read_file
    presses = []
    for filename, kind in (("SKK-JISYO.jinmei", "name"), ("SKK-JISYO.geo", "address"), ("SKK-JISYO.L", "text")):
        readings = sorted(parse_skk(read_file(SKK_FOLDER / filename)))
        step = max(1, len(readings) // (60 if quick else 400))
        for reading in readings[::step]:
            presses.extend((reading[:n], kind) for n in range(1, len(reading) + 1))
    return presses


def bench_service(quick: bool) -> None:
    from kiosk.kanji import Dictionary
    print("# the dictionaries")
    d = Dictionary()
    started = time.perf_counter()
    d.load()
    report("load (SKK jinmei + JIS3_4 + geo + L, variants, print fonts)", (time.perf_counter() - started) * 1000, "ms")
    presses = key_presses(quick)
    times = []
    for typed, kind in presses:
        started = time.perf_counter()
        d.candidates(typed, kind)
        times.append((time.perf_counter() - started) * 1000)
    report("key presses looked up", len(times))
    summary("lookup per key press", times)


def kiosk_app(work: Path):
    from core.config import load_config
    from core.store.db import open_from_config
    from kiosk import pairing
    from web import create_app
    overrides = {"storage": {"path": str(work / "madoguchi.db")}, "keys": {"dir": str(work / "keys")},
                 "devices": {"pdf_folder": str(work / "printed"), "emulator_persona": "", "camera": "none"}}
    config = load_config(ROOT / "config.toml", overrides=overrides, base_dir=work)
    app = create_app(config, "kiosk")
    db = open_from_config(config)
    device = pairing.pair(db, config.kiosk.kiosk_id, pairing.new_code(db, config.kiosk.kiosk_id))
    db.conn.close()
    return app, device


def bench_route(app, device: str, quick: bool) -> None:
    from kiosk import pairing
    print("# GET /kiosk/kanji (Flask test client)")
    client = app.test_client()
    client.set_cookie(pairing.COOKIE, device, path="/kiosk/")
    times = []
    for typed, kind in key_presses(quick):
        started = time.perf_counter()
        r = client.get(f"/kiosk/kanji?reading={quote(typed)}&kind={kind}")
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.get_data(as_text=True)
    summary("route per key press", times)


def bench_browser(app, device: str, quick: bool) -> None:
    """Headless Chromium on a waitress server: the household member page, 姓 typed key by key."""
    import shutil

    import waitress
    from playwright.sync_api import sync_playwright

    from kiosk import pairing
    chromium = shutil.which("chromium")
    if not chromium:
        print("# browser: no chromium, skipped")
        return
    print("# browser: key touched → candidates in the bar (headless Chromium, waitress)")
    # As `madoguchi serve` runs it (web/serve.py): its services, its threads, a frozen heap.
    stoppers = [start(app) for start in app.extensions["madoguchi.services"]]
    gc.collect()
    gc.freeze()
    config = app.config["MADOGUCHI"]
    server = waitress.create_server(app, host="127.0.0.1", port=0,
                                    threads=config.server.threads + config.server.stream_threads)
    url = f"http://127.0.0.1:{server.effective_port}"
    threading.Thread(target=server.run, daemon=True).start()
    times: list[float] = []
    dom: list[float] = []
    fetches: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                              "--disable-background-networking", "--disable-dev-shm-usage"])
            context = browser.new_context(viewport={"width": 1080, "height": 1920}, locale="ja-JP", has_touch=True)
            context.add_cookies([{"name": pairing.COOKIE, "value": device, "url": url + "/kiosk/",
                                  "httpOnly": True, "sameSite": "Strict"}])
            page = context.new_page()
            page.goto(url + "/kiosk/?lang=ja")
            page.click("a.k-choice-card")
            page.click("details.k-demo summary")
            page.click("button[value=mynumber_yamada]")
            page.wait_for_url("**/kiosk/card/pin")
            for d in "1234":
                page.click(f"[data-pin-pad] button[data-digit='{d}']")
            page.click("[data-pin-ok]")
            page.wait_for_url("**/kiosk/purpose")
            page.click("button[value=moving_in]")
            for _ in range(12):
                page.wait_for_load_state()
                if "/kiosk/procedures" in page.url:
                    break
                page.click("button[name=answer][value=no]")
            for name in TYPED_NAMES[:4] if quick else TYPED_NAMES * 2:
                # A fresh page each name: the page keeps the candidates it fetched (kiosk.js).
                page.goto(url + "/kiosk/ask/household/member")
                page.click("#f-name")
                for kana in name:
                    in_page, painted = page.evaluate(KEY_TO_CANDIDATES_JS, kana)
                    dom.append(in_page)
                    times.append(painted)
                fetches.extend(page.evaluate(FETCH_JS, name[:n]) for n in range(1, len(name) + 1))
            browser.close()
    finally:
        for stop in stoppers:
            stop()
        # The page's last event stream may still be closing: waitress's complaint is noise.
        logging.getLogger("waitress").setLevel(logging.CRITICAL)
        server.close()
    report("the request alone from the page, median", statistics.median(fetches), "ms")
    report("the request alone from the page, p95", p95(fetches), "ms")
    report("key presses in the browser", len(times))
    report("fastest", min(times), "ms")
    report("slowest five", ", ".join(f"{t:.0f}" for t in sorted(times)[-5:]), "ms")
    summary("key touched → candidates in the page", dom)
    summary("key touched → candidates painted", times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer readings and names")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    args = parser.parse_args()
    bench_service(args.quick)
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-kanji-") as work:
        app, device = kiosk_app(Path(work))
        bench_route(app, device, args.quick)
        if not args.no_browser:
            bench_browser(app, device, args.quick)


if __name__ == "__main__":
    main()
