"""Fixtures for the printing tests: a real cupsd, a cups-pdf queue, and devices that fail.

Several test sessions (helpers' worktrees, CI) may share this machine's cupsd at once, so:
each session holds a shared lock on CUPS_USERS while it uses cupsd; cupsd is started when it
is not running (its pid noted in CUPS_STARTED), and the last session to leave stops the cupsd
a test session started (and removes the test backend). Queues are per session, named with
the process id; the cups-pdf queue writes into its own folder (a per-queue cups-pdf config),
with the job id in each file name, so a test finds exactly its own output. Failing devices
are a tiny CUPS backend: it reports out-of-paper, offline, or fails, as its device URI says,
through cupsd's real status machinery.
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

CUPS_LOCK = "/tmp/madoguchi-cups.lock"          # held briefly around lpadmin changes
CUPS_USERS = "/tmp/madoguchi-cups.users"        # shared by every session using cupsd
CUPS_STARTED = Path("/tmp/madoguchi-cupsd.pid")  # the cupsd a test session started
PDF_QUEUE = f"madoguchi-test-pdf-{os.getpid()}"
PDF_OUT = Path("/var/spool/cups-pdf") / PDF_QUEUE
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
  record/*)    sleep 3; cat "${6:-/dev/stdin}" > "${DEVICE_URI#*:/record}/job-$1-$$.pdf" ;;  # a printer that takes 3 s
  *)           cat > /dev/null; exit 0 ;;
esac
"""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A test that uses the machine's one cupsd is a `cups` test, marked so or not (scripts/run-tests'
    concurrent PostgreSQL pass leaves them out)."""
    for item in items:
        if "cupsd" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cups)


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


def _started_cupsd_pid() -> int | None:
    """The pid of the cupsd a test session started, if it is still that process."""
    try:
        pid = int(CUPS_STARTED.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"cupsd" in cmdline else None


@pytest.fixture(scope="session")
def cupsd():
    """A running cupsd, shared with other sessions; the last session out stops the one tests started."""
    for tool in ("cupsd", "lpadmin", "lpstat"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is missing: run scripts/install-system-packages test")
    # Starting and stopping happen under CUPS_LOCK, held briefly; a session's shared lock on
    # CUPS_USERS lasts the whole session. (Taking CUPS_USERS exclusively to start waited for every
    # other session using cupsd to end: two test runs at once took turns.)
    users = open(CUPS_USERS, "a")
    with cups_lock():                            # nobody starts or stops cupsd meanwhile
        if not cups_running():
            proc = subprocess.Popen(["/usr/sbin/cupsd", "-f"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            CUPS_STARTED.write_text(str(proc.pid))
            deadline = time.monotonic() + 20
            while not cups_running():
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("cupsd did not start")
                time.sleep(0.2)
        fcntl.flock(users, fcntl.LOCK_SH)        # in use by this session until it ends
    yield
    with cups_lock():
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            users.close()                        # others still print: the last one cleans up
            return
        try:
            pid = _started_cupsd_pid()
            if pid is not None:
                os.kill(pid, 15)
                deadline = time.monotonic() + 15
                while _started_cupsd_pid() == pid and time.monotonic() < deadline:
                    time.sleep(0.2)
                CUPS_STARTED.unlink(missing_ok=True)
            FAKE_BACKEND.unlink(missing_ok=True)
        finally:
            users.close()


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
    """The test device's backend (removed by the last session using cupsd)."""
    with cups_lock():
        if not FAKE_BACKEND.exists() or FAKE_BACKEND.read_text() != FAKE_BACKEND_SCRIPT:
            tmp = FAKE_BACKEND.with_name(f".{FAKE_SCHEME}.{os.getpid()}")
            tmp.write_text(FAKE_BACKEND_SCRIPT)
            os.chmod(tmp, 0o755)  # not 0700: cupsd runs it as its unprivileged user
            os.replace(tmp, FAKE_BACKEND)
    return FAKE_SCHEME


@pytest.fixture
def make_queue(cupsd, fake_backend):
    """make_queue(device_uri_or_behaviour, error_policy=...) → a fresh queue, removed after the test."""
    made = []

    def make(device: str, error_policy: str = "abort-job") -> str:
        uri = device if ":" in device else f"{FAKE_SCHEME}:/{device}"
        name = f"madoguchi-test-{os.getpid()}-{len(made)}"
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


class PrivateCupsd:
    """A cupsd of the test's own (its own socket, spool and queues), so a test may kill it.

    It saves every change at once (DirtyCleanInterval 0), as cupsd does within seconds anyway,
    so a job it was printing when it died is still there when it starts again.
    """

    def __init__(self, root: Path):
        self.root = root
        self.socket = str(root / "cups.sock")
        self.proc: subprocess.Popen | None = None
        for d in ("conf", "spool", "state", "cache", "tmp", "log"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "conf" / "cupsd.conf").write_text(
            f"Listen {self.socket}\nLogLevel warn\nWebInterface No\nBrowsing Off\nDirtyCleanInterval 0\n"
            "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n")
        (root / "conf" / "cups-files.conf").write_text("".join(
            f"{key} {root / d}\n" for key, d in (("ServerRoot", "conf"), ("RequestRoot", "spool"),
                                                 ("StateDir", "state"), ("CacheDir", "cache"), ("TempDir", "tmp"))
        ) + f"ErrorLog {root / 'log' / 'error_log'}\nAccessLog {root / 'log' / 'access_log'}\nUser lp\nGroup lp\n")

    def start(self) -> None:
        self.proc = subprocess.Popen(["/usr/sbin/cupsd", "-f", "-c", str(self.root / "conf" / "cupsd.conf"),
                                      "-s", str(self.root / "conf" / "cups-files.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while "is running" not in run("lpstat", "-h", self.socket, "-r", check=False).stdout:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the private cupsd did not start")
            time.sleep(0.1)

    def crash(self) -> None:
        """Kill cupsd and every process it started at once, as systemd does when the service dies."""
        assert self.proc is not None
        pids = [self.proc.pid]
        for pid in pids:                                     # grows while walking: the whole tree
            children = Path(f"/proc/{pid}/task/{pid}/children")
            if children.exists():
                pids += [int(c) for c in children.read_text().split()]
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.crash()


@pytest.fixture
def private_cupsd(cupsd, fake_backend):
    """A private cupsd with a queue 'rec' whose printer takes 3 s a job and keeps each one as a file."""
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="madoguchi-cupsd-"))
    os.chmod(root, 0o755)                 # cupsd's filters and backends run as lp
    out = root / "printed"
    out.mkdir()
    os.chmod(out, 0o1777)
    server = PrivateCupsd(root)
    server.start()
    run("lpadmin", "-h", server.socket, "-p", "rec", "-E", "-v", f"{fake_backend}:/record{out}", "-m", "raw")
    server.out = out
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)
