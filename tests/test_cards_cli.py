"""`madoguchi card …` as other programs call it: real processes, real pcscd and vpcd."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures_cards import VPCD_READER, card_present, wait_for
from tests.helpers import madoguchi

pytestmark = pytest.mark.pcsc
EXE = str(Path(sys.executable).parent / "madoguchi")


@pytest.fixture
def emulate(pcsc_stack, config_file):
    """`emulate(persona, *args)`: run `madoguchi card emulate` until the test ends."""
    procs = []

    def start(persona: str, *args: str) -> subprocess.Popen:
        env = dict(os.environ, MADOGUCHI_CONFIG=str(config_file))
        proc = subprocess.Popen([EXE, "card", "emulate", "--persona", persona, *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        wait_for(card_present, 15, what="the emulated card on the vpcd reader")
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)
    wait_for(lambda: not card_present(), 10, what="the reader to be empty")


def card(*args, config_file=None, pin=None):
    result = madoguchi("card", *args, config_file=config_file, input=pin)
    return result.returncode, (json.loads(result.stdout) if result.stdout.strip() else None), result.stderr


def test_emulate_then_tries_and_read(emulate, config_file):
    proc = emulate("mynumber_yamada.toml")
    code, out, _ = card("tries", "--reader", VPCD_READER, config_file=config_file)
    assert code == 0 and out["card"] == "mynumber" and out["tries_left"] == 3 and out["blocked"] is False
    code, out, err = card("read", "--reader", VPCD_READER, "--pin-stdin", config_file=config_file, pin="1234\n")
    assert code == 0, err
    assert out == {"card": "mynumber", "name": "山田\u3000太郎", "address": "東京都千代田区霞が関２丁目１－２",
                   "birth_date": "1980-05-17", "sex": "male", "tries_left": 3}
    # Wrong PIN: exit 2 and the JSON still says how many tries are left.
    code, out, err = card("read", "--pin-stdin", config_file=config_file, pin="0000\n")
    assert code == 2 and out["error"] == "wrong_pin" and out["tries_left"] == 2
    assert "0000" not in err and "0000" not in out["message"]
    code, out, _ = card("tries", config_file=config_file)  # no --reader: the reader holding a card
    assert out["tries_left"] == 2
    # Interrupting the emulator takes the card away cleanly.
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    wait_for(lambda: not card_present(), 5, what="the card to go")
    code, out, _ = card("read", "--reader", VPCD_READER, "--pin-stdin", config_file=config_file, pin="1234\n")
    assert code == 5 and out["error"] == "no_card"


def test_licence_json_has_kana_and_address_at_issue(emulate, config_file):
    emulate("licence_watanabe_moved.toml")
    code, out, err = card("read", "--pin-stdin", config_file=config_file, pin="1111\n")
    assert code == 0, err
    assert out["card"] == "licence" and out["kana"] == "わたなべ\u3000おさむ"
    assert out["address"] == "東京都世田谷区世田谷４丁目２１－２７"
    assert out["address_at_issue"] == "神奈川県横浜市中区日本大通１"
    assert out["birth_date"] == "1972-06-15" and out["sex"] == "unknown" and out["tries_left"] == 3


@pytest.mark.parametrize("persona, pin, exit_code, error, tries", [
    ("mynumber_last_try.toml", "2468", 3, "last_try_refused", 1),
    ("mynumber_blocked.toml", "9753", 4, "blocked", 0),
    ("other_card.toml", "1234", 6, "unknown_card", None),
])
def test_exit_codes(emulate, config_file, persona, pin, exit_code, error, tries):
    emulate(persona)
    code, out, err = card("read", "--pin-stdin", config_file=config_file, pin=pin + "\n")
    assert (code, out["error"], out.get("tries_left")) == (exit_code, error, tries)
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1


def test_last_try_can_be_overridden_explicitly(emulate, config_file):
    emulate("mynumber_last_try.toml")
    code, out, _ = card("read", "--pin-stdin", "--allow-last-try", config_file=config_file, pin="2468\n")
    assert code == 0 and out["name"] == "佐藤\u3000花子" and out["tries_left"] == 3


def test_card_pulled_mid_read_is_exit_6(emulate, config_file):
    emulate("mynumber_yamada.toml", "--drop-after", "4")
    code, out, _ = card("read", "--pin-stdin", config_file=config_file, pin="1234\n")
    assert code == 6 and out["error"] == "card_removed"
    time.sleep(0.5)  # let pcscd's presence poll see the empty slot before the next test


def test_second_vpcd_slot(pcsc_stack, config_file):
    env = dict(os.environ, MADOGUCHI_CONFIG=str(config_file))
    proc = subprocess.Popen([EXE, "card", "emulate", "--persona", "licence_takahashi_gaiji.toml",
                             "--vpcd", "127.0.0.1:35964"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: card_present("Virtual PCD 00 01"), 15, what="the card on the second slot")
        code, out, _ = card("read", "--reader", "Virtual PCD 00 01", "--pin-stdin", config_file=config_file,
                            pin="3141\n")
        assert code == 0 and out["name"] == "〓橋\u3000誠" and out["gaiji"][0]["label"] == "外字1"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert "card connected to vpcd on 127.0.0.1:35964" in proc.stderr.read()
    wait_for(lambda: not card_present("Virtual PCD 00 01"), 10, what="the second slot to be empty")


def test_no_reader_is_exit_5(tmp_path, config_file):
    env = dict(os.environ, MADOGUCHI_CONFIG=str(config_file), PCSCLITE_CSOCK_NAME=str(tmp_path / "none.comm"))
    result = subprocess.run([EXE, "card", "read", "--pin-stdin"], input="1234\n", env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 5 and json.loads(result.stdout)["error"] == "no_reader"


def test_unknown_reader_name_is_exit_5(pcsc_stack, config_file):
    code, out, _ = card("tries", "--reader", "No Such Reader", config_file=config_file)
    assert code == 5 and out["error"] == "no_reader"


def test_bad_persona_is_one_line(config_file, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('card = "passport"\n', encoding="utf-8")
    result = madoguchi("card", "emulate", "--persona", str(bad), config_file=config_file)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and "card must be" in result.stderr


def test_emulated_transport_from_the_cli(config_file):
    code, out, _ = card("read", "--emulated", "--pin-stdin", config_file=config_file, pin="1234\n")
    assert code == 0 and out["name"] == "山田\u3000太郎"
    code, out, _ = card("read", "--emulated", "--persona", "mynumber_takazaki_variants.toml",
                        "--individual-number", "--pin-stdin", config_file=config_file, pin="4649\n")
    assert code == 0 and out["name"] == "髙﨑\u3000健一" and out["individual_number"] == "555666777885"
    code, out, _ = card("read", "--emulated", "--pin-stdin", config_file=config_file, pin="12\n")
    assert code == 7 and out["error"] == "invalid_pin"
