"""The kiosk's 受付票 (reception slip): printed after the forms in the same job, with the
reception number, the procedures, Japan's date and time and the QR of the status page; never a
name or an address."""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pdfplumber
import zxingcpp

from core import progress
from core.store.db import open_from_config
from core.tokens import decode_status_token, token_in
from printing.raster import page_png
from tests.test_kiosk import PREREG


def printed_pdfs(kiosk) -> list[Path]:
    return sorted(Path(kiosk.config.devices.pdf_folder).glob("*.pdf"), key=lambda p: p.stat().st_mtime)


def test_the_slip_is_the_last_page_of_the_print_job_and_its_qr_opens_the_status(kiosk, output_dir):
    from core import sealed
    db = open_from_config(kiosk.config)
    receipt = sealed.store(db, PREREG, days=30)
    kiosk.start("en")
    kiosk.get("/kiosk/qr")
    kiosk.post("/kiosk/qr", {"code": receipt.token})
    kiosk.print_and_wait()
    v = kiosk.visit()
    number = v.reception_number if v else None
    [pdf_path] = printed_pdfs(kiosk)           # one job: the forms and the slip
    pdf = pdf_path.read_bytes()
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        pages = len(doc.pages)
        slip_text = doc.pages[-1].extract_text()
        forms_text = "".join(p.extract_text() or "" for p in doc.pages[:-1])
    assert pages >= 2 and "Reception slip" in slip_text and "住民票" in slip_text and "受付日時 20" in slip_text
    assert number and number in slip_text and "Scan with your phone" in slip_text
    assert "髙橋" in forms_text and "髙橋" not in slip_text and PREREG["address"] not in slip_text
    png = page_png(pdf, pages, dpi=150)
    (output_dir / "reception_slip.png").write_bytes(png)
    found = zxingcpp.read_barcodes(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))
    [url] = [b.text for b in found if "/S/" in b.text]
    assert url.startswith("HTTP://LOCALHOST/S/MDGS1:")
    app_id, key = decode_status_token(token_in(url))
    assert app_id == receipt.app_id
    progress.deliver_pending(db, kiosk.config)
    # the slip's key is the one derived from the resident's: the same page, never the answers
    found_progress = progress.progress_of(db, app_id, key)
    assert found_progress is not None and [s.step for s in found_progress.steps] == ["received", "printed"]
    db.conn.close()
