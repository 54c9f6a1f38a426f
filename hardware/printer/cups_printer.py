"""A CUPS queue through pycups: check the printer, send the PDF, follow the job to its end.

pycups is imported only when a queue is used, so madoguchi starts (and its tests run)
without cupsd. The PDF is streamed to cupsd (no temporary file with personal data).

Each page prints on its own paper size (a layout's `page`: A4, A3, B4…). CUPS takes one
media per job and puts every page of a job on it, so a PDF whose pages change size is sent
as one job per run of pages of the same size, in order, each titled `<title>_<i>of<n>`
(a single-size PDF is one job under its own title, as before). A print is done when every
part is. When it fails at part k, the parts before it came out: they are remembered (with
part k if cupsd died under it), and printing the same document again on that queue prints
only what did not come out.
"""
from __future__ import annotations

import io
import re
import socket
import threading
import time
from urllib.parse import urlsplit

from core.paper import media_name
from hardware.printer import PrinterError, PrintResult

# IPP enums (RFC 8011), so this module needs pycups only when it talks to cupsd
JOB_PENDING, JOB_HELD, JOB_PROCESSING, JOB_STOPPED, JOB_CANCELED, JOB_ABORTED, JOB_COMPLETED = range(3, 10)
PRINTER_STOPPED = 5
PRINTER_ATTRIBUTES = ["printer-state", "printer-state-reasons", "printer-is-accepting-jobs", "device-uri",
                      "printer-state-message"]
JOB_ATTRIBUTES = ["job-state", "job-state-reasons", "job-printer-state-reasons"]
# Forms are laid out in millimetres: print them at 100 %, without banner pages (and on the
# pages' own paper: `media` is set per job, see media_runs).
JOB_OPTIONS = {"print-scaling": "none", "fit-to-page": "false", "job-sheets": "none,none"}
# Connections to cupsd broken in a row while following a job before it counts as not responding.
MAX_BROKEN_CONNECTIONS = 3
PT_PER_MM = 72 / 25.4
NETWORK_PORTS = {"socket": 9100, "ipp": 631, "ipps": 631, "http": 631, "https": 443, "lpd": 515}
PAPER_REASONS = {"media-empty", "media-needed"}
OFFLINE_REASONS = {"offline", "shutdown", "timed-out"}
ATTENTION_REASONS = {"media-jam", "cover-open", "door-open", "toner-empty", "marker-supply-empty",
                     "input-tray-missing", "output-area-full", "interlock-open"}


def ipp_name(title: str) -> str:
    """The title as a job and document name cupsd takes safely: no white space, no controls.

    Debian's cups 2.4.2-3+deb12u10 (the November 2026 security update) crashes cupsd with a
    segfault while a job whose document-name holds white space is processed, on every kind of
    queue; job names are cut to IPP's 255-octet name limit as well.
    """
    name = re.sub(r"[\s\x00-\x1f\x7f]+", "_", title).strip("_") or "madoguchi"
    return name.encode()[:255].decode(errors="ignore")


def _reasons(raw) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    return [r for r in (raw or []) if r and r != "none"]


def _base(reason: str) -> tuple[str, str]:
    """('media-empty', 'error') from 'media-empty-error'; severity '' when the reason has none."""
    for sev in ("-error", "-warning", "-report"):
        if reason.endswith(sev):
            return reason[: -len(sev)], sev[1:]
    return reason, ""


def classify(printer_state: int | None, reasons, accepting: bool = True) -> tuple[str, str] | None:
    """(error code, why) when the printer cannot print now, else None."""
    rs = _reasons(reasons)
    bases = {_base(r)[0]: _base(r)[1] for r in rs}
    if "paused" in bases:
        return "paused", "the printer is paused"
    for b, sev in bases.items():
        if b in PAPER_REASONS and sev != "warning":
            return "out_of_paper", "the printer is out of paper"
    for b, sev in bases.items():
        if b in OFFLINE_REASONS and sev != "warning":
            return "offline", "the printer is offline"
    for b, sev in bases.items():
        if b in ATTENTION_REASONS and sev != "warning":
            return "stopped", f"the printer needs attention ({b})"
    if printer_state == PRINTER_STOPPED:
        why = ", ".join(rs) or "stopped"
        return "stopped", f"the printer has stopped ({why})"
    if not accepting:
        return "paused", "the queue is not accepting jobs"
    return None


def probe_device(uri: str | None, timeout: float = 2.0) -> bool:
    """Whether a network printer answers on its port (other devices: assume yes)."""
    if not uri:
        return True
    parts = urlsplit(uri)
    port_default = NETWORK_PORTS.get(parts.scheme)
    if port_default is None or not parts.hostname:
        return True
    try:
        port = parts.port or port_default
    except ValueError:
        return True
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def media_runs(pdf: bytes) -> list[tuple[str, bytes]]:
    """The PDF as runs of consecutive pages of one paper size: [(media name, PDF bytes)].

    One size (the usual case) is one run holding the very bytes given."""
    from pypdf import PdfReader, PdfWriter
    try:
        reader = PdfReader(io.BytesIO(pdf))
        media = [media_name(float(p.mediabox.width) / PT_PER_MM, float(p.mediabox.height) / PT_PER_MM)
                 for p in reader.pages]
    except Exception:  # pypdf raises many kinds for a damaged file
        raise ValueError("not a readable PDF") from None
    if not media:
        raise ValueError("a PDF without pages")
    runs: list[list[int]] = []
    for i, m in enumerate(media):
        if runs and media[runs[-1][0]] == m:
            runs[-1].append(i)
        else:
            runs.append([i])
    if len(runs) == 1:
        return [(media[0], pdf)]
    out = []
    for run in runs:
        writer = PdfWriter()
        for i in run:
            writer.add_page(reader.pages[i])
        buf = io.BytesIO()
        writer.write(buf)
        out.append((media[run[0]], buf.getvalue()))
    return out


def part_titles(title: str, parts: int) -> list[str]:
    """The job titles of a document's parts: its own title when it is one job."""
    if parts == 1:
        return [title]
    return [f"{title[:240]}_{i}of{parts}" for i in range(1, parts + 1)]


# Jobs whose end this process did not see because the print service died under them, with
# the parts of the same document it saw completed before: (server, queue) -> {job id:
# (its title, whether it was seen completed)}. When cupsd comes back it may resume such a
# job, so the next print on that queue settles them first (see CupsPrinter._settle).
_unsettled: dict[tuple[str, str], dict[int, tuple[str, bool]]] = {}
_unsettled_lock = threading.Lock()


class CupsPrinter:
    def __init__(self, queue: str, timeout: float = 60.0, poll: float = 0.25, connect_grace: float = 10.0,
                 server: str = ""):
        self.name = queue
        self.timeout = timeout
        self.poll = poll
        self.connect_grace = connect_grace
        self.server = server        # "" = this machine's cupsd (or $CUPS_SERVER)

    # ---------------------------------------------------------------- talking to cupsd
    def _connect(self):
        try:
            import cups
        except ImportError:
            raise PrinterError("pycups is not installed", "offline", queue=self.name) from None
        try:
            if not self.server:
                return cups.Connection()
            host, _, port = self.server.rpartition(":")
            if self.server.startswith("/") or not port.isascii() or not port.isdigit():
                return cups.Connection(host=self.server)
            return cups.Connection(host=host, port=int(port))
        except RuntimeError:
            raise PrinterError("cannot reach the print service (cupsd is not running)", "offline",
                               queue=self.name) from None

    def _printer_attributes(self, conn) -> dict:
        import cups
        try:
            return conn.getPrinterAttributes(self.name, requested_attributes=PRINTER_ATTRIBUTES)
        except cups.IPPError as e:
            status = e.args[0] if e.args else None
            if status in (cups.IPP_NOT_FOUND, 0x0406):
                raise PrinterError(f"no print queue named {self.name}", "no_queue", queue=self.name) from None
            raise PrinterError(f"the print service refused the request ({status})", "offline",
                               queue=self.name) from None

    def status(self) -> str:
        """"ready", or the code of the error a print would raise now."""
        try:
            conn = self._connect()
            self._check_ready(conn, self._printer_attributes(conn))
        except PrinterError as e:
            return e.code
        return "ready"

    def _check_ready(self, conn, attrs: dict) -> None:
        problem = classify(attrs.get("printer-state"), attrs.get("printer-state-reasons"),
                           bool(attrs.get("printer-is-accepting-jobs", True)))
        if problem:
            code, why = problem
            raise PrinterError(f"{self.name}: {why}", code, queue=self.name,
                               reasons=_reasons(attrs.get("printer-state-reasons")))
        if not probe_device(attrs.get("device-uri")):
            raise PrinterError(f"{self.name}: the printer does not answer on the network", "offline",
                               queue=self.name)

    # ---------------------------------------------------------------- printing
    def print_pdf(self, pdf: bytes, title: str) -> PrintResult:
        if not pdf.startswith(b"%PDF-"):
            raise ValueError("not a PDF")
        parts = media_runs(pdf)
        titles = part_titles(ipp_name(title), len(parts))
        conn = self._connect()
        attrs = self._printer_attributes(conn)
        self._check_ready(conn, attrs)
        # the same document may be in (or through) cupsd since before it died: follow those
        # parts (finished or not) instead of sending them a second time
        resumed = self._settle(conn, set(titles))
        done: list[tuple[int, str]] = []      # parts completed: (job id, title)
        try:
            for (media, part), part_title in zip(parts, titles, strict=True):
                earlier = resumed.get(part_title)
                if earlier is None:
                    job_id = self._send(conn, part, part_title, media, done)
                else:
                    job_id, seen_completed = earlier
                if earlier is None or not seen_completed:
                    self._follow(conn, job_id, attrs.get("device-uri"), part_title)
                done.append((job_id, part_title))
        except PrinterError:
            # the parts already out are not printed again when this document is
            if done:
                self._remember({done_id: (done_title, True) for done_id, done_title in done})
            raise
        job_ids = tuple(job_id for job_id, _ in done)
        # a print of several jobs is recorded as all of them: "12+13"
        return PrintResult(job_id=job_ids[0] if len(job_ids) == 1 else "+".join(map(str, job_ids)),
                           state="completed", queue=self.name, job_ids=job_ids)

    def _send(self, conn, pdf: bytes, title: str, media: str, done: list[tuple[int, str]]) -> int:
        """Queue one job of the document on `media`; its id."""
        import cups
        try:
            job_id = conn.createJob(self.name, title, {**JOB_OPTIONS, "media": media})
        except cups.IPPError as e:
            status = e.args[0] if e.args else None
            code = {cups.IPP_NOT_ACCEPTING: "paused", cups.IPP_NOT_FOUND: "no_queue"}.get(status, "offline")
            raise PrinterError(f"{self.name}: the print service refused the job ({status})", code,
                               queue=self.name, job_id=done[-1][0] if done else None) from None
        try:
            conn.startDocument(self.name, job_id, title, "application/pdf", 1)
            conn.writeRequestData(pdf, len(pdf))
            conn.finishDocument(self.name)
        except (cups.IPPError, RuntimeError):
            try:
                self._cancel(self._connect(), job_id)
            except PrinterError:
                raise self._gave_up(job_id, title) from None
            raise PrinterError(f"{self.name}: sending the document failed", "aborted", queue=self.name,
                               job_id=job_id) from None
        return job_id

    def _gave_up(self, job_id: int, title: str) -> PrinterError:
        """The print service died during the job: remember it for when cupsd is back."""
        self._remember({job_id: (title, False)})
        return PrinterError("the print service is not responding", "offline", queue=self.name, job_id=job_id)

    def _remember(self, jobs: dict[int, tuple[str, bool]]) -> None:
        with _unsettled_lock:
            _unsettled.setdefault((self.server, self.name), {}).update(jobs)

    def _settle(self, conn, titles: set[str]) -> dict[str, tuple[int, bool]]:
        """Deal with the jobs the print service took down with it, before a new job is sent.

        Jobs of the same document (titles name it: the application id, and the part) that
        cupsd finished, resumed after its restart, or that this process saw completed, are
        this print's: {title: (job id, seen completed)} is returned. Other unfinished jobs are
        cancelled: their visitors were told the print failed, and a form must not come out
        of the printer later for somebody who has gone (nor a part that came out already).
        """
        import cups
        with _unsettled_lock:
            jobs = _unsettled.pop((self.server, self.name), {})
        found: dict[str, tuple[int, bool]] = {}
        for job_id, (job_title, seen_completed) in jobs.items():
            mine = job_title in titles and job_title not in found
            try:
                state = conn.getJobAttributes(job_id, requested_attributes=["job-state"]).get("job-state")
            except cups.IPPError:
                state = None                 # cupsd lost it: it never printed (unless we saw it)
            unfinished = state in (JOB_PENDING, JOB_HELD, JOB_PROCESSING, JOB_STOPPED)
            if seen_completed:
                if unfinished:               # cupsd lost its end and would print it again
                    self._cancel(conn, job_id)
                if mine:
                    found[job_title] = (job_id, True)
            elif mine and (unfinished or state == JOB_COMPLETED):
                found[job_title] = (job_id, False)
            elif unfinished:
                self._cancel(conn, job_id)
        return found

    def _follow(self, conn, job_id: int, device_uri: str | None, title: str) -> PrintResult:
        import cups
        deadline = time.monotonic() + self.timeout
        connecting_since = None
        next_probe = time.monotonic() + 3.0
        broken_connections = 0
        while True:
            try:
                job = conn.getJobAttributes(job_id, requested_attributes=JOB_ATTRIBUTES)
                printer = conn.getPrinterAttributes(self.name, requested_attributes=PRINTER_ATTRIBUTES)
            except (cups.IPPError, RuntimeError) as e:
                status = e.args[0] if isinstance(e, cups.IPPError) and e.args else None
                if status in (cups.IPP_NOT_FOUND, 0x0406):     # a cupsd that came back without the job
                    raise PrinterError(f"{self.name}: lost track of job {job_id}", "aborted", queue=self.name,
                                       job_id=job_id) from None
                # The connection broke: cupsd died (or restarted) under the job. A cupsd being
                # killed may still take a connection for a moment and then drop it too, so a few
                # breaks in a row are "not responding", like a refused connection.
                broken_connections += 1
                if broken_connections > MAX_BROKEN_CONNECTIONS:
                    raise self._gave_up(job_id, title) from None
                if broken_connections > 1:
                    time.sleep(0.2)
                try:
                    conn = self._connect()
                except PrinterError:
                    raise self._gave_up(job_id, title) from None
                continue
            broken_connections = 0
            state = job.get("job-state")
            if state == JOB_COMPLETED:
                return PrintResult(job_id=job_id, state="completed", queue=self.name)
            reasons = _reasons(printer.get("printer-state-reasons"))
            if state in (JOB_ABORTED, JOB_CANCELED):
                why = "aborted by the printer" if state == JOB_ABORTED else "cancelled at the printer"
                raise PrinterError(f"{self.name}: job {job_id} was {why}", "aborted", queue=self.name,
                                   job_id=job_id, reasons=reasons)
            problem = classify(printer.get("printer-state"), reasons)
            if problem is not None and problem[0] == "paused":
                # it was ready when the job went in: the device stopped it (CUPS says "paused")
                problem = ("stopped", "the printer stopped while printing")
            if problem is None and state == JOB_STOPPED:
                problem = ("stopped", "the job has stopped")
            if problem is None and "connecting-to-device" in {_base(r)[0] for r in reasons}:
                connecting_since = connecting_since or time.monotonic()
                if time.monotonic() - connecting_since > self.connect_grace:
                    problem = ("offline", "the printer cannot be reached")
            else:
                connecting_since = None
            if problem is None and time.monotonic() >= next_probe:
                next_probe = time.monotonic() + 3.0
                if not probe_device(device_uri):
                    problem = ("offline", "the printer does not answer on the network")
            if problem is None and time.monotonic() >= deadline:
                problem = ("timeout", f"the printer did not finish within {self.timeout:g} seconds")
            if problem is not None:
                code, why = problem
                # cancel, so a reprint later (or on another queue) does not print the form twice
                self._cancel(conn, job_id)
                raise PrinterError(f"{self.name}: {why}; job {job_id} cancelled", code, queue=self.name,
                                   job_id=job_id, reasons=reasons)
            time.sleep(self.poll)

    @staticmethod
    def _cancel(conn, job_id: int) -> None:
        try:
            conn.cancelJob(job_id, purge_job=True)
        except Exception:  # already finished or gone: nothing left to cancel
            pass
