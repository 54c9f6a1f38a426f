"""Printing figures: warm render time per page (target ≤ 15 ms), the cold first render
(a new process: imports, fonts, drawing the blank forms), and PDF size (target ≤ 150 KB a page).

    .venv/bin/python bench/printing.py
"""
from __future__ import annotations

import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import json  # noqa: E402

# every procedure of the catalogue, a household, and 𠮷/髙/﨑 (IPAmj明朝 is loaded)
SAMPLE = json.loads((ROOT / "printing" / "samples" / "visit.json").read_text("utf-8"))
APP_ID = "0123456789ABCDEF"
COLD = """
import sys, time
t = time.perf_counter()
sys.path.insert(0, {root!r})
from bench.printing import SAMPLE, APP_ID
from printing import render_form
render_form("juminhyo", SAMPLE, APP_ID)
print((time.perf_counter() - t) * 1000)
"""


# The whole 転入 visit: every procedure of the demo city's moving-in event (its own 犬の登録
# included), each filled by printing.sample (a household of eight, 𠮷 髙 﨑, a long address).
COLD_MOVING_IN = """
import sys, time
t = time.perf_counter()
sys.path.insert(0, {root!r})
from bench.printing import moving_in_visit, APP_ID
from printing import render_application
render_application(moving_in_visit(), APP_ID)
print((time.perf_counter() - t) * 1000)
"""


def moving_in_visit() -> dict:
    from core.catalogue import get_catalogue
    from core.forms import parse_application
    from core.site import activate, load_site
    from printing.sample import sample_application
    activate(load_site(ROOT / "sites" / "demo"))
    catalogue = get_catalogue()
    procedures = list(catalogue.event("moving_in").procedures)
    visit: dict = {}
    for pid in procedures:
        visit = {**sample_application(pid, catalogue), **visit}
    visit["procedures"] = procedures
    # What the kiosk would hand over: only the fields these forms ask, and only where they apply.
    fields = {f.name: f for f in catalogue.fields_for(procedures)}
    visit = {k: v for k, v in visit.items() if k == "procedures" or k in fields}
    visit = {k: v for k, v in visit.items() if k == "procedures" or fields[k].applies(visit)}
    _, values = parse_application(visit, catalogue, complete=False)
    return {"procedures": procedures, **values}


def pages(pdf: bytes) -> int:
    from pypdf import PdfReader
    return len(PdfReader(io.BytesIO(pdf)).pages)


def timed(fn, n):
    """(wall ms, CPU ms) of each of n calls after a warm-up call. CPU time is what the
    renderer costs; wall time also counts waiting for a busy machine's cores."""
    fn()
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return wall, cpu


def main():
    from printing import render_application, render_form

    colds = []
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", COLD.format(root=str(ROOT))], capture_output=True, text=True,
                           check=True, cwd=ROOT)
        colds.append(float(r.stdout.strip()))
    print(f"cold first render (new process, juminhyo with 𠮷: imports, fonts incl. IPAmj明朝, blank form): "
          f"{min(colds):.0f} ms best of 3, {statistics.median(colds):.0f} ms median")

    wall, cpu = timed(lambda: render_form("juminhyo", SAMPLE, APP_ID), 60)
    print(f"warm render, one form (1 page): CPU median {statistics.median(cpu):.1f} ms, best {min(cpu):.1f} ms; "
          f"wall median {statistics.median(wall):.1f} ms, best {min(wall):.1f} ms   (target ≤ 15 ms a page)")
    visit_pdf = render_application(SAMPLE, APP_ID)
    n = pages(visit_pdf)
    wall, cpu = timed(lambda: render_application(SAMPLE, APP_ID), 20)
    print(f"warm render, whole visit ({n} forms, {n} pages): CPU median {statistics.median(cpu) / n:.1f} ms a page, "
          f"wall median {statistics.median(wall) / n:.1f} ms a page")
    print(f"load average while measuring: {', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())} "
          f"on {__import__('os').cpu_count()} cores")

    tennyu = moving_in_visit()
    tennyu_pdf = render_application(tennyu, APP_ID)
    tennyu_pages = pages(tennyu_pdf)
    wall, cpu = timed(lambda: render_application(tennyu, APP_ID), 10)
    print(f"warm render, whole 転入 visit ({len(tennyu['procedures'])} forms, {tennyu_pages} pages): "
          f"CPU median {statistics.median(cpu) / tennyu_pages:.1f} ms a page, "
          f"wall median {statistics.median(wall) / tennyu_pages:.1f} ms a page   (target ≤ 15 ms a page)")
    colds = []
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", COLD_MOVING_IN.format(root=str(ROOT))], capture_output=True,
                           text=True, check=True, cwd=ROOT)
        colds.append(float(r.stdout.strip()))
    print(f"cold, whole 転入 visit in a new process: {min(colds):.0f} ms best of 3, {statistics.median(colds):.0f} ms"
          f" median   (target ≤ 2 s)")
    print(f"PDF size, whole 転入 visit: {len(tennyu_pdf) / 1024:.0f} KB for {tennyu_pages} pages")

    single = render_form("juminhyo", SAMPLE, APP_ID)
    print(f"PDF size, one form: {len(single) / 1024:.0f} KB a page   (target ≤ 150 KB a page)")
    print(f"PDF size, whole visit: {len(visit_pdf) / 1024:.0f} KB for {n} pages"
          f" = {len(visit_pdf) / 1024 / n:.0f} KB a page")
    sizes = {pid: len(render_form(pid, SAMPLE, APP_ID)) / 1024 for pid in SAMPLE["procedures"]}
    print("PDF size by form: " + ", ".join(f"{k} {v:.0f} KB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
