"""Fixtures for the cards tests: pcscd + vpcd + our emulator, and the emulated slot.

`pcsc_stack` (one per test module) holds the exclusive lock on /tmp/madoguchi-vpcd.lock
(other programs' tests use the same vpcd reader), starts pcscd when it is not running and
stops it again if it started it. Debian's vsmartcard-vpcd registers its reader in
/etc/reader.conf.d/vpcd (CHANNELID 0x8C7B = port 35963), so pcscd shows
"Virtual PCD 00 00" (port 35963) and "Virtual PCD 00 01" (35964).

`vpcd_card(persona)` puts an emulated card on that reader for one test and takes it
away afterwards.
"""
from __future__ import annotations

import fcntl
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

VPCD_LOCK = Path("/tmp/madoguchi-vpcd.lock")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VPCD_READER = "Virtual PCD 00 00"
VPCD_PORT = 35963
PERSONAS = Path(__file__).resolve().parent.parent / "hardware" / "cards" / "personas"


def pcscd_running() -> bool:
    if not PCSCD_SOCKET.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(PCSCD_SOCKET))
            return True
        except OSError:
            return False


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def reader_state(reader: str = VPCD_READER) -> int | None:
    """The PC/SC event state of `reader`, or None when pcscd does not know it."""
    from smartcard import scard
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return None
    try:
        hresult, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hresult != scard.SCARD_S_SUCCESS:
            return None
        return states[0][1]
    finally:
        scard.SCardReleaseContext(ctx)


def card_present(reader: str = VPCD_READER) -> bool:
    from smartcard import scard
    state = reader_state(reader)
    return bool(state is not None and state & scard.SCARD_STATE_PRESENT)


class Pcscd:
    """pcscd, started by us only when it is not running already."""

    def __init__(self, log_dir: Path):
        self.proc: subprocess.Popen | None = None
        self.log_path = log_dir / "pcscd.log"

    def ensure(self):
        if pcscd_running():
            return
        exe = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not Path(exe).exists():
            pytest.skip("pcscd is not installed (scripts/install-system-packages test)")
        # -f: stay in the foreground, so we own the process and can stop it.
        self.proc = subprocess.Popen([exe, "-f"], stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: pcscd_running() and reader_state() is not None, 15, what="pcscd and the vpcd reader")

    def stop(self):
        """Stop pcscd if we started it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    @property
    def started_by_us(self) -> bool:
        return self.proc is not None


class PcscStack:
    """pcscd + vpcd under the shared lock; put emulated cards on the vpcd reader."""

    reader = VPCD_READER

    def __init__(self, pcscd: Pcscd):
        self.pcscd = pcscd
        self.links = []

    def insert(self, card_or_persona, *, wait: bool = True, **link_options):
        """Put a card on the reader (a persona file name/path or an emulator Card)."""
        from hardware.cards.emulator import load_card
        from hardware.cards.emulator.engine import Card
        from hardware.cards.emulator.vpcd import VpcdLink
        self.remove()
        card = card_or_persona if isinstance(card_or_persona, Card) else load_card(card_or_persona)
        link = VpcdLink(card, port=VPCD_PORT, **link_options).start()
        self.links.append(link)
        if wait:
            wait_for(lambda: card_present(), 10, what="the card on the vpcd reader")
        return link

    def remove(self, wait: bool = True):
        dropped = False
        while self.links:
            link = self.links.pop()
            dropped |= link.drop_after is not None
            link.stop()
        if wait:
            wait_for(lambda: not card_present(), 10, what="the card to leave the vpcd reader")
        if dropped:
            # A card pulled mid-command shows as gone at once, but pcscd's presence poll
            # (every 0.4 s) must also see the empty slot, or it misses the next insertion.
            time.sleep(0.5)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A test that uses the machine's one pcscd and vpcd reader is a `pcsc` test, marked so or not."""
    for item in items:
        if "pcsc_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pcsc)


@pytest.fixture(scope="module")
def pcsc_stack(tmp_path_factory):
    """Exclusive use of the vpcd reader for this test module, with pcscd running."""
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        pytest.skip("pyscard is not available")
    VPCD_LOCK.touch(exist_ok=True)
    lock = open(VPCD_LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # waits while another test run uses the reader
    pcscd = Pcscd(tmp_path_factory.mktemp("pcscd"))
    try:
        pcscd.ensure()
        stack = PcscStack(pcscd)
        if card_present():
            # A card left behind by someone else's emulator: we cannot use the reader now.
            wait_for(lambda: not card_present(), 30, what="the vpcd reader to be free")
        yield stack
        stack.remove(wait=False)
    finally:
        pcscd.stop()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


@pytest.fixture
def vpcd_card(pcsc_stack):
    """`vpcd_card(persona, **VpcdLink options)`: a card on the vpcd reader for this test."""
    yield pcsc_stack.insert
    pcsc_stack.remove()


@pytest.fixture
def pcsc_config(config, pcsc_stack):
    """The test config with [devices] pointing at the vpcd reader through PC/SC."""
    return config.replace({"devices": {"card_reader": "pcsc", "card_reader_name": VPCD_READER}})


@pytest.fixture(autouse=True)
def _fresh_emulated_cards():
    """Each test starts with fresh in-process emulated cards (tries as in the persona)."""
    yield
    direct = sys.modules.get("hardware.cards.direct")
    if direct is not None:
        direct.forget_all()


def persona_path(name: str) -> Path:
    return PERSONAS / name

