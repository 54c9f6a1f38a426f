"""Fixtures for the printing tests: a real cupsd, a cups-pdf queue, and devices that fail.

cupsd is started when it is not running (and stopped at the end by whoever started it).
The cups-pdf queue writes into its own folder (a per-queue cups-pdf config), with the job
id in each file name, so a test finds exactly its own output. Failing devices are a tiny
CUPS backend installed for the session: it reports out-of-paper, offline, or fails, as
its device URI says, through cupsd's real status machinery.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CUPS_LOCK = "/tmp/madoguchi-cups.lock"
PDF_QUEUE = "madoguchi-test-pdf"
PDF_OUT = Path("/var/spool/cups-pdf/madoguchi-test")
CUPS_PDF_PPD = "/usr/share/ppd/cups-pdf/CUPS-PDF_noopt.ppd"
FAKE_SCHEME = "madoguchi-fake"
FAKE_BACKEND = Path("/usr/lib/cups/backend") / FAKE_SCHEME
FAKE_BACKEND_SCRIPT = """#!/bin/sh
# madoguchi's test device (tests/fixtures_printing.py): behaves as its device URI says.
[ $# -eq 0 ] && exit 0          # device discovery: nothing to list
case "${DEVICE_URI#*:/}" in
  media-empty) echo "STATE: +media-empty-error" >&2; echo "INFO: out of paper" >&2; sleep 300 ;;
  offline)     echo "STATE: +offline-report" >&2; sleep 300 ;;
  fail)        exit 1 ;;        # CUPS_BACKEND_FAILED
  stop)        exit 4 ;;        # CUPS_BACKEND_STOP
  slow)        sleep 300 ;;
  *)           cat > /dev/null; exit 0 ;;
esac
"""


def run(*args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=check)


def cups_running() -> bool:
    r = subprocess.run(["lpstat", "-r"], capture_output=True, text=True, timeout=10)
    return "is running" in r.stdout and "not running" not in r.stdout


@contextmanager
def cups_lock():
    with open(CUPS_LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def cupsd():
    """A running cupsd (started here when it is not; then stopped here at the end)."""
    for tool in ("cupsd", "lpadmin", "lpstat"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is missing: run scripts/install-system-packages test")
    started = None
    with cups_lock():
        if not cups_running():
            started = subprocess.Popen(["/usr/sbin/cupsd", "-f"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 20
            while not cups_running():
                if started.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("cupsd did not start")
                time.sleep(0.2)
    yield
    if started is not None:
        started.terminate()
        try:
            started.wait(15)
        except subprocess.TimeoutExpired:
            started.kill()


class PdfQueue:
    def __init__(self, name: str, out: Path):
        self.name, self.out = name, out

    def output_of(self, job_id: int, timeout: float = 30) -> Path:
        """The PDF cups-pdf wrote for the job (complete: its size no longer changes)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            found = sorted(self.out.glob(f"*job_{job_id}.pdf"))
            if found:
                size = found[0].stat().st_size
                if size and size == last:
                    return found[0]
                last = size
            time.sleep(0.3)
        raise AssertionError(f"cups-pdf wrote nothing for job {job_id} in {self.out}")


@pytest.fixture(scope="session")
def pdf_queue(cupsd):
    """A cups-pdf queue writing into its own folder; removed at the end."""
    if not Path(CUPS_PDF_PPD).exists() or not Path("/usr/lib/cups/backend/cups-pdf").exists():
        pytest.fail("cups-pdf is missing: run scripts/install-system-packages test")
    conf = Path(f"/etc/cups/cups-pdf-{PDF_QUEUE}.conf")
    conf.write_text(f"Out {PDF_OUT}\nLabel 2\n")
    PDF_OUT.mkdir(parents=True, exist_ok=True)
    with cups_lock():
        run("lpadmin", "-p", PDF_QUEUE, "-E", "-v", f"cups-pdf:/{PDF_QUEUE}", "-P", CUPS_PDF_PPD)
        run("cupsenable", PDF_QUEUE)
        run("cupsaccept", PDF_QUEUE)
    yield PdfQueue(PDF_QUEUE, PDF_OUT)
    with cups_lock():
        run("cancel", "-a", PDF_QUEUE, check=False)
        run("lpadmin", "-x", PDF_QUEUE, check=False)
    conf.unlink(missing_ok=True)
    shutil.rmtree(PDF_OUT, ignore_errors=True)


@pytest.fixture(scope="session")
def fake_backend(cupsd):
    FAKE_BACKEND.write_text(FAKE_BACKEND_SCRIPT)
    os.chmod(FAKE_BACKEND, 0o755)  # not 0700: cupsd runs it as its unprivileged user
    yield FAKE_SCHEME
    FAKE_BACKEND.unlink(missing_ok=True)


@pytest.fixture
def make_queue(cupsd, fake_backend):
    """make_queue(device_uri_or_behaviour, error_policy=...) → a fresh queue, removed after the test."""
    made = []

    def make(device: str, error_policy: str = "abort-job") -> str:
        uri = device if ":" in device else f"{FAKE_SCHEME}:/{device}"
        name = f"madoguchi-test-{len(made)}-{os.getpid()}"
        with cups_lock():
            run("lpadmin", "-p", name, "-E", "-v", uri, "-m", "raw", "-o", f"printer-error-policy={error_policy}")
        made.append(name)
        return name
    yield make
    with cups_lock():
        for name in made:
            run("cancel", "-a", name, check=False)
            run("lpadmin", "-x", name, check=False)


def active_jobs(queue: str) -> list[int]:
    """Jobs of the queue that have not finished (pending, held, processing, stopped)."""
    import cups
    jobs = cups.Connection().getJobs(which_jobs="not-completed")
    out = []
    for job_id in jobs:
        attrs = cups.Connection().getJobAttributes(job_id, requested_attributes=["job-printer-uri"])
        if attrs.get("job-printer-uri", "").endswith("/" + queue):
            out.append(job_id)
    return out
