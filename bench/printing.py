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

SAMPLE = {
    "procedures": ["juminido", "jido_teate", "inkan_toroku", "inkan_shomei", "zei_shomei", "juminhyo"],
    "name": "髙橋\u3000𠮷子", "kana": "タカハシ\u3000ヨシコ", "birth_date": "1985-04-01", "sex": "female",
    "postal_code": "1000001", "address": "東京都千代田区千代田１－１　パークハイツ千代田１０１号室", "phone": "03-1234-5678",
    "household": [{"name": "髙橋\u3000太郎", "kana": "タカハシ\u3000タロウ", "birth_date": "1983-09-12", "sex": "male",
                   "relationship": "spouse"},
                  {"name": "髙橋\u3000﨑人", "kana": "タカハシ\u3000サキト", "birth_date": "2015-06-30", "sex": "male",
                   "relationship": "child"}],
    "move_type": "tennyu", "move_date": "2025-04-01", "previous_postal_code": "0600000",
    "previous_address": "北海道札幌市中央区北１条西２丁目", "head_of_household": "髙橋\u3000太郎", "relationship_to_head": "妻",
    "pension_type": "kosei", "spouse_name": "髙橋\u3000太郎", "bank_name": "みずほ銀行", "bank_branch": "千代田",
    "account_type": "futsu", "account_number": "1234567", "account_holder_kana": "タカハシ\u3000ヨシコ",
    "inkan_method": "photo_id", "inkan_card_number": "0012345", "inkan_shomei_copies": 1,
    "tax_certificate_type": "shotoku", "tax_fiscal_year": 2025, "tax_copies": 2,
    "juminhyo_scope": "self", "juminhyo_copies": 2, "juminhyo_purpose": "pension",
}
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

    single = render_form("juminhyo", SAMPLE, APP_ID)
    print(f"PDF size, one form: {len(single) / 1024:.0f} KB a page   (target ≤ 150 KB a page)")
    print(f"PDF size, whole visit: {len(visit_pdf) / 1024:.0f} KB for {n} pages = {len(visit_pdf) / 1024 / n:.0f} KB a page")
    sizes = {pid: len(render_form(pid, SAMPLE, APP_ID)) / 1024 for pid in SAMPLE["procedures"]}
    print("PDF size by form: " + ", ".join(f"{k} {v:.0f} KB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
