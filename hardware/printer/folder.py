"""The `pdf-folder` printer: each print is a PDF file in a folder (the embedded default,
and what a demo or a test without CUPS uses)."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from core.clock import now_in_japan
from core.private_files import create_private, private_folder
from hardware.printer import PDF_FOLDER, PrinterError, PrintResult


class PdfFolderPrinter:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.name = PDF_FOLDER

    def status(self) -> str:
        return "idle" if self._writable() else "offline"

    def _writable(self) -> bool:
        try:
            private_folder(self.folder)
        except OSError:
            return False
        return os.access(self.folder, os.W_OK)

    def print_pdf(self, pdf: bytes, title: str) -> PrintResult:
        if not pdf.startswith(b"%PDF-"):
            raise ValueError("not a PDF")
        if not self._writable():
            raise PrinterError(f"cannot write to the PDF folder {self.folder}", "offline", queue=self.name)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("._")[:60] or "form"
        stem = f"{now_in_japan():%Y%m%d-%H%M%S}-{safe}-{secrets.token_hex(3)}"
        final = self.folder / f"{stem}.pdf"
        tmp = self.folder / f".{stem}.pdf.tmp"
        try:
            # personal data: readable by the service's user only
            fd = create_private(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(pdf)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)  # appears complete or not at all
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise PrinterError(f"cannot write to the PDF folder {self.folder}: {e.strerror}", "offline",
                               queue=self.name) from None
        return PrintResult(job_id=stem, state="completed", queue=self.name, path=str(final))
