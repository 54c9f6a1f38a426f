"""Printing through a real cupsd: a cups-pdf queue, a paused queue, devices out of paper,
offline, failing or too slow; and the pdf-folder printer of the embedded default."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pdfplumber
import pytest

from core.application import form_code
from core.paper import media_name
from core.site import activate, load_site
from hardware.printer import PrinterError, open_printer
from hardware.printer.cups_printer import CupsPrinter, classify, media_runs
from printing import render_application, render_form
from tests.fixtures_printing import active_jobs, run
from tests.helpers import ROOT, free_port, madoguchi

APP_ID = "0123456789ABCDEF"
FORM = {"procedures": ["juminhyo"], "name": "髙橋\u3000𠮷子", "kana": "タカハシ\u3000ヨシコ",
        "birth_date": "1952-01-15",
        "sex": "female", "postal_code": "1000001", "address": "東京都千代田区千代田２－３", "phone": "090-1111-2222",
        "juminhyo_scope": "self", "juminhyo_copies": 2}


@pytest.fixture(scope="module")
def form_pdf():
    return render_form("juminhyo", FORM, APP_ID)


def printer(config, queue, timeout=30.0):
    return open_printer(config.replace({"devices": {"print_timeout_seconds": timeout}}), queue)


def raster(pdf_path, tmp_path, dpi=200):
    """The first page as a grey image (numpy array), through poppler's pdftoppm."""
    import cv2
    stem = tmp_path / f"{pdf_path.stem}-{dpi}"
    subprocess.run(["pdftoppm", "-gray", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile",
                    str(pdf_path), str(stem)], check=True)
    return cv2.imread(f"{stem}.png", cv2.IMREAD_GRAYSCALE)


def decode_qr_codes(pdf_path, tmp_path) -> list[str]:
    import zxingcpp
    return [r.text for r in zxingcpp.read_barcodes(raster(pdf_path, tmp_path))]


def page_difference(a, b, tmp_path) -> float:
    """Share of pixels that are ink on one page and paper on the other (blurred a little,
    so anti-aliasing differences between PDF writers do not count)."""
    import cv2
    import numpy as np
    ia, ib = raster(a, tmp_path, 60), raster(b, tmp_path, 60)
    # the same paper size, to a millimetre (queues round sizes to points: the PPD's B4 is 728 × 1032 pt)
    assert abs(ia.shape[0] - ib.shape[0]) <= 2 and abs(ia.shape[1] - ib.shape[1]) <= 2
    h, w = min(ia.shape[0], ib.shape[0]), min(ia.shape[1], ib.shape[1])
    ia, ib = ia[:h, :w], ib[:h, :w]
    ia, ib = (cv2.GaussianBlur(i, (3, 3), 0) < 128 for i in (ia, ib))
    return float(np.count_nonzero(ia != ib)) / ia.size


@pytest.mark.cups
def test_prints_through_cups_pdf_and_the_paper_carries_the_form(config, pdf_queue, form_pdf, tmp_path):
    result = printer(config, pdf_queue.name).print_pdf(form_pdf, "madoguchi juminhyo")
    assert result.state == "completed"
    assert isinstance(result.job_id, int) and result.queue == pdf_queue.name
    out = pdf_queue.output_of(result.job_id)
    with pdfplumber.open(out) as pdf:
        assert len(pdf.pages) == 1
        assert abs(pdf.pages[0].width - 595.3) < 2 and abs(pdf.pages[0].height - 841.9) < 2  # A4, unscaled
    # cups-pdf rewrites the PDF through PostScript (text is no longer extractable), so compare
    # what is on the paper: the printed page looks like the form we sent…
    sent = tmp_path / "sent.pdf"
    sent.write_bytes(form_pdf)
    assert page_difference(sent, out, tmp_path) < 0.01
    # …and still opens the record when scanned
    assert form_code(APP_ID) in decode_qr_codes(out, tmp_path)


@pytest.mark.cups
def test_a_paused_queue_is_refused_before_anything_is_queued_and_the_form_prints_later(config, pdf_queue, form_pdf):
    run("cupsdisable", pdf_queue.name)
    try:
        with pytest.raises(PrinterError) as e:
            printer(config, pdf_queue.name).print_pdf(form_pdf, "madoguchi juminhyo")
        assert e.value.code == "paused"
        assert active_jobs(pdf_queue.name) == []  # nothing waiting to print by surprise later
        assert CupsPrinter(pdf_queue.name).status() == "paused"
    finally:
        run("cupsenable", pdf_queue.name)
    # reprint: the same PDF, once the clerk has resumed the printer
    result = printer(config, pdf_queue.name).print_pdf(form_pdf, "madoguchi juminhyo")
    assert result.state == "completed"
    assert pdf_queue.output_of(result.job_id).stat().st_size > 1000


@pytest.mark.cups
def test_a_queue_rejecting_jobs_counts_as_paused(config, pdf_queue, form_pdf):
    run("cupsreject", pdf_queue.name)
    try:
        with pytest.raises(PrinterError) as e:
            printer(config, pdf_queue.name).print_pdf(form_pdf, "madoguchi juminhyo")
        assert e.value.code == "paused"
    finally:
        run("cupsaccept", pdf_queue.name)


@pytest.mark.cups
def test_out_of_paper_is_reported_and_the_job_cancelled_so_a_reprint_does_not_double(config, make_queue, pdf_queue,
                                                                                    form_pdf):
    queue = make_queue("media-empty")
    with pytest.raises(PrinterError) as e:
        printer(config, queue).print_pdf(form_pdf, "madoguchi juminhyo")
    assert e.value.code == "out_of_paper"
    assert e.value.job_id is not None
    assert active_jobs(queue) == []
    # the application stays printable: to another queue right away
    assert printer(config, pdf_queue.name).print_pdf(form_pdf, "madoguchi juminhyo").state == "completed"


@pytest.mark.cups
def test_a_device_reporting_offline_gives_offline(config, make_queue, form_pdf):
    queue = make_queue("offline")
    with pytest.raises(PrinterError) as e:
        printer(config, queue).print_pdf(form_pdf, "madoguchi juminhyo")
    assert e.value.code == "offline"
    assert active_jobs(queue) == []


@pytest.mark.cups
def test_a_network_printer_that_does_not_answer_is_offline_before_submitting(config, make_queue, form_pdf):
    queue = make_queue(f"socket://127.0.0.1:{free_port()}")
    with pytest.raises(PrinterError) as e:
        printer(config, queue).print_pdf(form_pdf, "madoguchi juminhyo")
    assert e.value.code == "offline"
    assert active_jobs(queue) == []
    assert CupsPrinter(queue).status() == "offline"


@pytest.mark.cups
def test_a_failing_device_aborts_the_job(config, make_queue, form_pdf):
    queue = make_queue("fail", error_policy="abort-job")
    with pytest.raises(PrinterError) as e:
        printer(config, queue).print_pdf(form_pdf, "madoguchi juminhyo")
    assert e.value.code == "aborted"


@pytest.mark.cups
def test_a_device_that_stops_the_printer_gives_stopped(config, make_queue, form_pdf):
    queue = make_queue("stop", error_policy="stop-printer")
    with pytest.raises(PrinterError) as e:
        printer(config, queue).print_pdf(form_pdf, "madoguchi juminhyo")
    assert e.value.code == "stopped"
    assert active_jobs(queue) == []


@pytest.mark.cups
def test_a_job_that_never_finishes_times_out_and_is_cancelled(config, make_queue, form_pdf):
    queue = make_queue("slow")
    with pytest.raises(PrinterError) as e:
        printer(config, queue, timeout=3).print_pdf(form_pdf, "madoguchi juminhyo")
    assert e.value.code == "timeout"
    assert active_jobs(queue) == []


@pytest.mark.cups
def test_an_unknown_queue_is_no_queue(config, cupsd, form_pdf):
    with pytest.raises(PrinterError) as e:
        printer(config, "madoguchi-no-such-queue").print_pdf(form_pdf, "madoguchi juminhyo")
    assert e.value.code == "no_queue"


def test_without_cupsd_the_error_is_offline_in_one_line(config_file, tmp_path, monkeypatch):
    data = tmp_path / "form.json"
    data.write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("CUPS_SERVER", f"127.0.0.1:{free_port()}")  # where no cupsd listens
    r = madoguchi("form", "print", "juminhyo", "--data", str(data), "--queue", "somewhere",
                  config_file=config_file)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "print service" in r.stderr and "Traceback" not in r.stderr


def test_the_printer_module_imports_without_pycups_or_cupsd():
    code = ("import sys, hardware.printer, hardware.printer.cups_printer, hardware.printer.folder;"
            "assert 'cups' not in sys.modules, 'pycups imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pdf_folder_printer_writes_the_pdf_privately_and_atomically(config, form_pdf):
    p = open_printer(config)
    result = p.print_pdf(form_pdf, "madoguchi juminhyo 0123456789ABCDEF")
    assert result.state == "completed" and result.queue == "pdf-folder"
    path = config.path(config.devices.pdf_folder)
    files = list(path.iterdir())
    assert [f.name for f in files] == [os.path.basename(result.path)]
    assert files[0].read_bytes() == form_pdf
    assert files[0].stat().st_mode & 0o077 == 0
    with pdfplumber.open(io.BytesIO(files[0].read_bytes())) as pdf:
        assert "住民票の写し等交付申請書" in pdf.pages[0].extract_text().replace(" ", "")


def test_pdf_folder_that_cannot_be_written_is_offline(config, tmp_path, form_pdf):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    p = open_printer(config.replace({"devices": {"pdf_folder": str(blocked / "printed")}}))
    with pytest.raises(PrinterError) as e:
        p.print_pdf(form_pdf, "x")
    assert e.value.code == "offline"


@pytest.mark.parametrize("state, reasons, accepting, code", [
    (3, ["none"], True, None),
    (5, ["paused"], True, "paused"),
    (3, ["media-empty-error"], True, "out_of_paper"),
    (4, ["media-needed"], True, "out_of_paper"),
    (3, ["media-low-warning"], True, None),
    (3, ["offline-report"], True, "offline"),
    (5, ["media-jam-error"], True, "stopped"),
    (5, ["other"], True, "stopped"),
    (3, ["toner-low-report"], True, None),
    (3, [], False, "paused"),
])
def test_printer_states_map_to_error_codes(state, reasons, accepting, code):
    got = classify(state, reasons, accepting)
    assert (got[0] if got else None) == code


# ---------------------------------------------------------------- the print service dies during a job
def _printer_on(config, server, queue="rec"):
    return open_printer(config.replace({"devices": {"cups_server": server.socket, "print_timeout_seconds": 30.0}}),
                        queue)


def _print_while_cupsd_dies(config, server, pdf, job_number=1) -> PrinterError:
    """Send `pdf`, kill cupsd (and its backend) while the printer works on it (on the
    `job_number`th job of this fresh cupsd), return the error."""
    import threading
    outcome = {}

    def send():
        try:
            outcome["result"] = _printer_on(config, server).print_pdf(pdf, f"madoguchi {APP_ID}")
        except PrinterError as e:
            outcome["error"] = e
    sender = threading.Thread(target=send)
    sender.start()
    import cups
    conn = cups.Connection(host=server.socket)
    deadline = time.monotonic() + 15
    def nth_job_processing() -> bool:
        jobs = sorted(conn.getJobs(which_jobs="all"))
        # The job_number-th job itself, not an earlier one still finishing while it is queued.
        return len(jobs) >= job_number and conn.getJobAttributes(jobs[job_number - 1])["job-state"] == 5
    while not nth_job_processing():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    server.crash()
    sender.join(timeout=15)
    assert not sender.is_alive(), "print_pdf hung after cupsd died"
    assert "error" in outcome, outcome
    return outcome["error"]


def test_ipp_names_have_no_white_space_that_crashes_cupsd():
    from hardware.printer.cups_printer import ipp_name
    assert ipp_name("madoguchi juminhyo 0123") == "madoguchi_juminhyo_0123"
    assert ipp_name("a\tb\r\nc\x00") == "a_b_c"
    assert ipp_name("   ") == "madoguchi"
    assert len(ipp_name("あ" * 200).encode()) <= 255


@pytest.mark.cups
def test_a_title_with_spaces_prints_and_cupsd_stays_up(config, pdf_queue, form_pdf):
    # cups 2.4.2-3+deb12u10 segfaulted on the white space of such a document name
    for _ in range(2):
        result = printer(config, pdf_queue.name).print_pdf(form_pdf, "madoguchi juminhyo\twith  spaces")
        assert result.state == "completed"
        assert pdf_queue.output_of(result.job_id).read_bytes()[:5] == b"%PDF-"
    assert cups_running_now()


def cups_running_now() -> bool:
    from tests.fixtures_printing import cups_running
    return cups_running()


def test_a_print_service_that_drops_every_connection_is_not_responding_not_an_aborted_job(tmp_path):
    # A cupsd being killed may still take a connection for a moment and then drop it: the job
    # is not known to be lost, so it is remembered for the reprint and the visitor is told
    # "not responding" (once this answered "aborted", and the reprint took no care of the job).
    import socket
    import threading

    import cups
    path = str(tmp_path / "dying-cupsd.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    accepted = []

    def take_and_drop():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            connection.close()
    threading.Thread(target=take_and_drop, daemon=True).start()
    try:
        dying = CupsPrinter("rec", timeout=5, server=path)
        with pytest.raises(PrinterError) as raised:
            dying._follow(cups.Connection(host=path), 42, None, "madoguchi_0123456789ABCDEF")
    finally:
        listener.close()
    assert raised.value.code == "offline" and "not responding" in str(raised.value)
    assert len(accepted) >= 2          # it tried again on a fresh connection before giving up


@pytest.mark.cups
def test_cupsd_killed_during_a_job_then_a_reprint_prints_once(config, private_cupsd, form_pdf):
    error = _print_while_cupsd_dies(config, private_cupsd, form_pdf)
    assert error.code == "offline" and "not responding" in str(error)
    # while it is down a reprint says the same, and sends nothing
    with pytest.raises(PrinterError) as down:
        _printer_on(config, private_cupsd).print_pdf(form_pdf, f"madoguchi {APP_ID}")
    assert down.value.code == "offline"
    private_cupsd.start()      # cupsd is back and resumes the job it had
    result = _printer_on(config, private_cupsd).print_pdf(form_pdf, f"madoguchi {APP_ID}")
    assert result.state == "completed" and result.job_id == error.job_id
    time.sleep(4)              # anything printed twice would have come out by now
    printed = list(private_cupsd.out.iterdir())
    assert len(printed) == 1 and printed[0].read_bytes() == form_pdf


@pytest.mark.cups
def test_after_cupsd_is_back_a_stale_job_of_another_visitor_does_not_come_out(config, private_cupsd, form_pdf):
    error = _print_while_cupsd_dies(config, private_cupsd, form_pdf)
    assert error.code == "offline"
    private_cupsd.start()
    other = render_form("juminhyo", {**FORM, "name": "佐藤\u3000花子", "kana": "サトウ\u3000ハナコ"},
                        "FEDCBA9876543210")
    result = _printer_on(config, private_cupsd).print_pdf(other, "madoguchi FEDCBA9876543210")
    assert result.state == "completed" and result.job_id != error.job_id
    time.sleep(4)
    printed = list(private_cupsd.out.iterdir())
    assert [p.read_bytes() for p in printed] == [other]


# ---------------------------------------------------------------- paper sizes

MM = 72 / 25.4


def page_sizes_mm(pdf: bytes) -> list[tuple[float, float]]:
    from pypdf import PdfReader
    return [(float(p.mediabox.width) / MM, float(p.mediabox.height) / MM) for p in PdfReader(io.BytesIO(pdf)).pages]


def near(sizes, expected, tolerance=1.5) -> bool:
    return len(sizes) == len(expected) and all(
        abs(w - ew) <= tolerance and abs(h - eh) <= tolerance for (w, h), (ew, eh) in zip(sizes, expected, strict=True))


@pytest.fixture
def visit_on_two_papers():
    """A visit whose 住民票 prints on A4 and whose 税証明 on B4 (tests/sites/oban's own layout)."""
    activate(load_site(ROOT / "tests" / "sites" / "oban"))
    pdf = render_application({**FORM, "procedures": ["juminhyo", "zei_shomei"]}, APP_ID)
    assert near(page_sizes_mm(pdf), [(210, 297), (257, 364)])
    return pdf


def test_media_names_are_the_pages_papers_either_way_up_or_a_custom_size():
    assert media_name(210, 297) == media_name(297.2, 209.9) == "iso_a4_210x297mm"
    assert media_name(297, 420) == "iso_a3_297x420mm"
    assert media_name(257, 364) == "jis_b4_257x364mm"
    assert media_name(215.9, 279.4) == "na_letter_8.5x11in"
    assert media_name(100, 148.5) == "Custom.100x148.5mm"


def test_a_pdf_is_sent_as_runs_of_pages_of_one_paper(visit_on_two_papers, form_pdf):
    assert media_runs(form_pdf) == [("iso_a4_210x297mm", form_pdf)]     # one size: the bytes as they are
    runs = media_runs(visit_on_two_papers)
    assert [media for media, _ in runs] == ["iso_a4_210x297mm", "jis_b4_257x364mm"]
    assert near(page_sizes_mm(runs[0][1]), [(210, 297)]) and near(page_sizes_mm(runs[1][1]), [(257, 364)])
    with pytest.raises(ValueError):
        media_runs(b"%PDF-1.4 broken")


@pytest.mark.cups
def test_a_b4_form_prints_on_b4_and_the_a4_form_of_the_same_visit_on_a4(config, pdf_queue, visit_on_two_papers,
                                                                        tmp_path):
    result = printer(config, pdf_queue.name).print_pdf(visit_on_two_papers, f"madoguchi {APP_ID}")
    assert result.state == "completed" and len(result.job_ids) == 2
    assert result.job_id == f"{result.job_ids[0]}+{result.job_ids[1]}"     # as the print service records it
    outputs = [pdf_queue.output_of(job_id).read_bytes() for job_id in result.job_ids]
    assert near(page_sizes_mm(outputs[0]), [(210, 297)])
    assert near(page_sizes_mm(outputs[1]), [(257, 364)])      # not shrunk onto A4
    # printed at 100 %: the B4 page carries the B4 form as it was sent
    sent, out = tmp_path / "b4-sent.pdf", tmp_path / "b4-out.pdf"
    sent.write_bytes(media_runs(visit_on_two_papers)[1][1])
    out.write_bytes(outputs[1])
    assert page_difference(sent, out, tmp_path) < 0.01


def test_the_pdf_folder_keeps_each_pages_paper(config, visit_on_two_papers):
    result = open_printer(config).print_pdf(visit_on_two_papers, f"madoguchi {APP_ID}")
    assert near(page_sizes_mm(open(result.path, "rb").read()), [(210, 297), (257, 364)])


@pytest.mark.cups
@pytest.mark.parametrize("dies_in", [1, 2])
def test_cupsd_killed_during_either_part_of_a_two_paper_visit_then_a_reprint_prints_each_part_once(
        config, private_cupsd, visit_on_two_papers, dies_in):
    parts = [pdf for _, pdf in media_runs(visit_on_two_papers)]
    error = _print_while_cupsd_dies(config, private_cupsd, visit_on_two_papers, dies_in)
    assert error.code == "offline"
    private_cupsd.start()
    result = _printer_on(config, private_cupsd).print_pdf(visit_on_two_papers, f"madoguchi {APP_ID}")
    assert result.state == "completed" and len(result.job_ids) == 2
    assert error.job_id == result.job_ids[dies_in - 1]     # the job cupsd resumed
    time.sleep(4)              # anything printed twice would have come out by now
    printed = sorted(private_cupsd.out.iterdir(), key=lambda p: p.stat().st_mtime)
    assert [p.read_bytes() for p in printed] == parts


B4_FAILS_BACKEND = """#!/bin/sh
# madoguchi's test device that takes A4 and fails on B4 (tests/test_printer.py)
[ $# -eq 0 ] && exit 0
case "$5" in *jis_b4*) exit 1 ;; esac
cat "${6:-/dev/stdin}" > "${DEVICE_URI#*:/}/job-$1-$$.pdf"
"""


@pytest.fixture
def b4_fails_queue(cupsd):
    """A queue whose printer prints A4 jobs into a folder and fails every B4 job."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.fixtures_printing import cups_lock
    tmp_path = Path(tempfile.mkdtemp(prefix="madoguchi-nob4-"))
    scheme = f"madoguchi-nob4-{os.getpid()}"
    backend = Path("/usr/lib/cups/backend") / scheme
    backend.write_text(B4_FAILS_BACKEND)
    os.chmod(backend, 0o755)
    out = tmp_path / "printed"
    out.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(out, 0o1777)
    name = f"madoguchi-test-{os.getpid()}-nob4"
    with cups_lock():
        run("lpadmin", "-p", name, "-E", "-v", f"{scheme}:/{out}", "-m", "raw", "-o", "printer-error-policy=abort-job")
    yield name, out
    with cups_lock():
        run("cancel", "-a", name, check=False)
        run("lpadmin", "-x", name, check=False)
    backend.unlink(missing_ok=True)
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.cups
def test_a_part_that_fails_leaves_the_parts_already_out_unprinted_on_the_reprint(config, b4_fails_queue,
                                                                                 visit_on_two_papers):
    queue, out = b4_fails_queue
    a4_part = media_runs(visit_on_two_papers)[0][1]
    with pytest.raises(PrinterError) as first:
        printer(config, queue).print_pdf(visit_on_two_papers, f"madoguchi {APP_ID}")
    assert first.value.code == "aborted"
    assert [p.read_bytes() for p in out.iterdir()] == [a4_part]       # the A4 form came out
    # the reprint (the printer still fails on B4) sends only the B4 form: the A4 one is not printed twice
    with pytest.raises(PrinterError) as again:
        printer(config, queue).print_pdf(visit_on_two_papers, f"madoguchi {APP_ID}")
    assert again.value.code == "aborted" and again.value.job_id > first.value.job_id
    assert [p.read_bytes() for p in out.iterdir()] == [a4_part]
    # a different document on that queue prints all of itself
    result = printer(config, queue).print_pdf(render_form("juminhyo", FORM, "FEDCBA9876543210"),
                                              "madoguchi FEDCBA9876543210")
    assert result.state == "completed" and len(list(out.iterdir())) == 2
