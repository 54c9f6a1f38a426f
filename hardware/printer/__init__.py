"""Printers: a CUPS queue (pycups) or the `pdf-folder` printer of the embedded default.

    printer = open_printer(config, queue=None)      # [devices].printer unless queue is given
    printer.print_pdf(pdf, title) -> PrintResult(job_id, state="completed", job_ids)
    PrinterError.code: offline | paused | out_of_paper | stopped | aborted | timeout | no_queue

Each page prints on its own paper size (CUPS: one job per run of pages of one size, see
cups_printer). print_pdf returns once the job has completed, or raises; a job that cannot finish is
cancelled first, so reprinting later (or on another queue) never prints the form twice.
The caller keeps the PDF: a failed print loses nothing. Titles go into CUPS' job list and
logs: never put personal data in them (use the procedure id or the application id). A title
names its document: when cupsd died during a job, printing the same title again once it is
back follows the job cupsd resumed (or reports the one it finished) instead of printing twice,
and jobs of other titles it left behind are cancelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.errors import MadoguchiError

PDF_FOLDER = "pdf-folder"
ERROR_CODES = ("offline", "paused", "out_of_paper", "stopped", "aborted", "timeout", "no_queue")


class PrinterError(MadoguchiError):
    code = "printer_error"

    def __init__(self, message: str, code: str, queue: str | None = None, job_id=None, reasons=()):
        assert code in ERROR_CODES, code
        super().__init__(message, code=code, queue=queue, job_id=job_id)
        self.queue = queue
        self.job_id = job_id
        self.reasons = tuple(reasons)


@dataclass(frozen=True)
class PrintResult:
    job_id: int | str
    state: str = "completed"
    queue: str = ""
    path: str | None = None      # pdf-folder: the file written
    job_ids: tuple = ()          # CUPS: every job of the print, one per run of pages of one paper size
    #                              (job_id is then "12+13")


class Printer(Protocol):
    name: str

    def print_pdf(self, pdf: bytes, title: str) -> PrintResult: ...

    def status(self) -> str: ...


def open_printer(config, queue: str | None = None) -> Printer:
    """The configured printer, or another CUPS queue (reprint elsewhere) when `queue` is given."""
    target = queue or config.devices.printer
    timeout = float(config.devices.print_timeout_seconds)
    if target == PDF_FOLDER:
        from hardware.printer.folder import PdfFolderPrinter
        return PdfFolderPrinter(config.path(config.devices.pdf_folder))
    from hardware.printer.cups_printer import CupsPrinter
    return CupsPrinter(target, timeout=timeout, server=config.devices.cups_server)


__all__ = ["open_printer", "PrintResult", "PrinterError", "Printer", "PDF_FOLDER", "ERROR_CODES"]
