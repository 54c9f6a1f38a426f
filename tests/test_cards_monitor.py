"""Card insert/remove events on the monitor's queue, and a clean stop."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardware.cards import CardMonitor, open_reader
from tests.fixtures_cards import VPCD_READER


def next_event(monitor, timeout=5.0):
    return monitor.events.get(timeout=timeout)


@pytest.mark.pcsc
def test_pcsc_insert_and_remove_events(pcsc_config, pcsc_stack):
    monitor = CardMonitor(pcsc_config)
    try:
        assert monitor.wait_ready()
        assert monitor.events.empty()
        pcsc_stack.insert("mynumber_yamada.toml")
        assert next_event(monitor) == {"type": "inserted", "reader": VPCD_READER}
        pcsc_stack.remove()
        assert next_event(monitor) == {"type": "removed", "reader": VPCD_READER}
    finally:
        started = time.monotonic()
        monitor.stop()
        assert time.monotonic() - started < 1.0  # SCardCancel wakes the waiting thread at once
    assert not monitor.running
    pcsc_stack.insert("mynumber_yamada.toml")
    time.sleep(0.3)
    assert monitor.events.empty()  # stopped means stopped
    pcsc_stack.remove()


@pytest.mark.pcsc
def test_pcsc_card_already_there_is_reported_and_other_readers_are_ignored(pcsc_config, pcsc_stack):
    pcsc_stack.insert("licence_watanabe_moved.toml")
    with CardMonitor(pcsc_config) as monitor:
        assert next_event(monitor) == {"type": "inserted", "reader": VPCD_READER}
    other = pcsc_config.replace({"devices": {"card_reader_name": "Virtual PCD 00 01"}})
    with CardMonitor(other) as monitor:
        assert monitor.wait_ready()
        pcsc_stack.remove()
        with pytest.raises(queue.Empty):
            monitor.events.get(timeout=0.8)


def test_emulated_monitor_hears_simulated_insert_and_remove(config):
    reader = open_reader(config)
    monitor = CardMonitor(config)
    assert next_event(monitor, 1) == {"type": "inserted", "reader": "Emulated card reader"}  # the demo card
    reader.remove()
    assert next_event(monitor, 1) == {"type": "removed", "reader": "Emulated card reader"}
    reader.insert("licence_watanabe_moved.toml")
    assert next_event(monitor, 1)["type"] == "inserted"
    monitor.stop()
    reader.remove()
    assert monitor.events.empty() and not monitor.running


def test_monitor_without_pcscd_keeps_waiting_and_stops_cleanly(tmp_path, config_file):
    env = dict(os.environ, MADOGUCHI_CONFIG=str(config_file), PCSCLITE_CSOCK_NAME=str(tmp_path / "none.comm"))
    code = ("import time\n"
            "from core.config import load_config\n"
            "from hardware.cards import CardMonitor\n"
            "config = load_config().replace({'devices': {'card_reader': 'pcsc'}})\n"
            "m = CardMonitor(config)\n"
            "time.sleep(1.5)\n"
            "t = time.monotonic(); m.stop()\n"
            "print(m.events.qsize(), m.running, time.monotonic() - t)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30,
                         cwd=Path(__file__).resolve().parent.parent)
    queued, running, stop_seconds = out.stdout.split()
    assert (queued, running) == ("0", "False"), out.stderr
    # Without pcscd the monitor retries every 1 s; stop() must interrupt that wait, not sit it out.
    assert float(stop_seconds) < 0.5, out.stdout
    assert "Traceback" not in out.stderr
