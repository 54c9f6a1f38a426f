"""The reader against our emulated cards, over both transports:
pyscard → pcscd → vpcd → emulator, and the direct in-process link."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from hardware.cards import (
    Blocked,
    CardRemoved,
    EmulatedReader,
    InvalidPin,
    LastTryRefused,
    NoCard,
    NoReader,
    UnknownCard,
    WrongPin,
)
from hardware.cards.direct import EmulatedSlot
from hardware.cards.emulator import load_card, persona
from hardware.cards.reader import CardReader
from hardware.cards.transport import PcscTransport
from tests.fixtures_cards import VPCD_READER, persona_path

TRANSPORTS = ["direct", pytest.param("pcsc", marks=pytest.mark.pcsc)]


class Cards:
    """Puts a persona's card on a reader of the chosen transport; records what it receives."""

    def __init__(self, mode: str, request):
        self.mode, self.request = mode, request
        self.apdus: list[bytes] = []
        self.slot = EmulatedSlot("test reader")
        self.card = None

    def put(self, name: str, **link_options):
        card = load_card(persona_path(name))
        process = card.process

        def recording(apdu):
            self.apdus.append(bytes(apdu))
            return process(apdu)
        card.process = recording
        self.card = card
        if self.mode == "direct":
            self.slot.insert(card)
            return EmulatedReader(self.slot)
        stack = self.request.getfixturevalue("pcsc_stack")
        self.request.addfinalizer(stack.remove)
        stack.insert(card, **link_options)
        return CardReader(PcscTransport(VPCD_READER))

    def empty_reader(self):
        if self.mode == "direct":
            return EmulatedReader(self.slot)
        self.request.getfixturevalue("pcsc_stack")
        return CardReader(PcscTransport(VPCD_READER))

    def pull_after(self, name: str, n: int):
        """A card that leaves the reader when it has received `n` APDUs."""
        if self.mode == "pcsc":
            return self.put(name, drop_after=n)
        reader = self.put(name)
        self.slot.apdu_hooks.append(lambda apdu: len(self.apdus) >= n and self.slot.remove())
        return reader

    def verifies_with_data(self) -> list[bytes]:
        return [a for a in self.apdus if a[1] == 0x20 and len(a) > 4]

    @property
    def tries(self) -> int:
        pins = self.card.all_pins()
        return (pins.get("pin") or pins["pin1"]).tries


@pytest.fixture(params=TRANSPORTS)
def cards(request):
    return Cards(request.param, request)


def test_demo_card_reads_in_six_apdus(cards):
    reader = cards.put("mynumber_yamada.toml")
    data = reader.read("1234")
    assert (data.card, data.name, data.address) == ("mynumber", "山田\u3000太郎", "東京都千代田区霞が関２丁目１－２")
    assert (data.birth_date, data.sex, data.tries_left, data.kana) == (date(1980, 5, 17), "male", 3, None)
    assert (data.surname, data.given_name) == ("山田", "太郎")
    assert data.individual_number is None
    assert reader.last_apdu_count == len(cards.apdus) == 6  # the four fields, tries check included
    assert [a[:4].hex().upper() for a in cards.apdus] == [
        "00A4040C", "00A4020C", "00200080", "00200080", "00A4020C", "00B00000"]
    assert cards.verifies_with_data() == [bytes.fromhex("0020008004") + b"1234"]


def test_tries_left_uses_no_try(cards):
    reader = cards.put("mynumber_yamada.toml")
    for _ in range(3):
        tries = reader.tries_left()
        assert (tries.card, tries.tries, tries.blocked) == ("mynumber", 3, False)
    assert cards.verifies_with_data() == [] and cards.tries == 3


def test_wrong_pin_says_tries_left_and_the_right_pin_resets_them(cards):
    reader = cards.put("mynumber_yamada.toml")
    with pytest.raises(WrongPin) as e:
        reader.read("9876")
    assert (e.value.code, e.value.tries_left) == ("wrong_pin", 2)
    assert "9876" not in str(e.value) and "9876" not in repr(e.value.details)
    assert reader.tries_left().tries == 2
    assert reader.read("1234").name == "山田\u3000太郎"
    assert reader.tries_left().tries == 3 and cards.tries == 3
    assert len(cards.verifies_with_data()) == 2  # one per read: never retried


@pytest.mark.parametrize("name, pin, kind", [("mynumber_last_try.toml", "2468", "mynumber"),
                                             ("licence_kobayashi_last_try.toml", "0909", "licence")])
def test_last_try_is_refused_unless_explicitly_allowed(cards, name, pin, kind):
    reader = cards.put(name)
    with pytest.raises(LastTryRefused) as e:
        reader.read(pin)
    assert e.value.code == "last_try_refused" and e.value.card == kind
    assert cards.verifies_with_data() == [] and cards.tries == 1
    assert reader.tries_left().tries == 1
    data = reader.read(pin, allow_last_try=True)
    assert data.card == kind and cards.tries == 3


def test_a_wrong_pin_on_the_last_try_blocks_the_card(cards):
    reader = cards.put("mynumber_last_try.toml")
    with pytest.raises(Blocked) as e:
        reader.read("0000", allow_last_try=True)
    assert e.value.code == "blocked"
    tries = reader.tries_left()
    assert tries.tries == 0 and tries.blocked
    with pytest.raises(Blocked):
        reader.read("2468", allow_last_try=True)
    assert len(cards.verifies_with_data()) == 1


def test_blocked_card_gets_no_verify(cards):
    reader = cards.put("mynumber_blocked.toml")
    assert reader.tries_left().tries == 0
    with pytest.raises(Blocked):
        reader.read("9753")
    assert cards.verifies_with_data() == []


@pytest.mark.parametrize("pin", ["12a4", "12345", "", "１２３４", " 1234"])
def test_a_pin_that_is_not_four_digits_is_never_sent(cards, pin):
    reader = cards.put("mynumber_yamada.toml")
    with pytest.raises(InvalidPin) as e:
        reader.read(pin)
    assert e.value.code == "invalid_pin"
    assert cards.verifies_with_data() == [] and cards.tries == 3


@pytest.mark.parametrize("name", ["mynumber_suzuki_long_address.toml", "mynumber_yoshida_outside_bmp.toml",
                                  "mynumber_takazaki_variants.toml", "mynumber_t0_quirks.toml"])
def test_awkward_my_number_cards_read_exactly(cards, name):
    p = persona.load(persona_path(name))
    reader = cards.put(name)
    data = reader.read(p.pin)
    assert (data.name, data.address, data.birth_date) == (p.name, p.address, p.birth_date)
    assert data.sex == {"1": "male", "2": "female"}.get(p.sex_code, "unknown")
    assert data.gaiji == []


def test_long_address_is_read_in_two_chunks(cards):
    reader = cards.put("mynumber_suzuki_long_address.toml")
    reader.read("8080")
    reads = [a for a in cards.apdus if a[1] == 0xB0]
    assert [r[2:4].hex() for r in reads] == ["0000", "0100"]  # offsets 0 and 256
    assert reader.last_apdu_count == 7


def test_variant_kanji_are_not_normalised(cards):
    data = cards.put("mynumber_takazaki_variants.toml").read("4649")
    assert data.name == "\u9AD9\uFA11\u3000健一"  # 髙﨑, not 高崎 / 崎


def test_quirky_card_answers_61xx_and_6cxx_and_still_reads(cards):
    reader = cards.put("mynumber_t0_quirks.toml")
    assert reader.read("1357").name == "伊藤\u3000翼"
    ins = [a[1] for a in cards.apdus]
    assert 0xC0 in ins  # GET RESPONSE
    reads = [a for a in cards.apdus if a[1] == 0xB0]
    assert reads[0][4] == 0x00 and reads[1][4] != 0x00  # resent with the Le the card gave


def test_licence_with_a_later_address_change(cards):
    reader = cards.put("licence_watanabe_moved.toml")
    assert reader.tries_left().card == "licence"
    data = reader.read("1111")
    assert (data.card, data.name, data.kana) == ("licence", "渡辺\u3000修", "わたなべ\u3000おさむ")
    assert data.address == "東京都世田谷区世田谷４丁目２１－２７"
    assert data.address_at_issue == "神奈川県横浜市中区日本大通１"
    assert (data.birth_date, data.expiry, data.sex) == (date(1972, 6, 15), date(2026, 7, 15), "unknown")
    assert data.as_dict()["address_at_issue"] == "神奈川県横浜市中区日本大通１"
    # PIN1 only: 本籍 (PIN1 + PIN2) and the photo are never asked for.
    assert cards.verifies_with_data() == [bytes.fromhex("0020008104") + b"1111"]
    assert not any(a.startswith(bytes.fromhex("00A4020C020002")) for a in cards.apdus)


def test_licence_gaiji_are_kept_as_placeholders(cards):
    data = cards.put("licence_takahashi_gaiji.toml").read("3141")
    assert data.name == "〓橋\u3000誠"
    assert [g.as_dict() for g in data.gaiji] == [
        {"field": "name", "index": 0, "kind": "gaiji", "number": 1, "label": "外字1", "placeholder": "〓"}]
    assert data.birth_date == date(1988, 1, 8) and data.expiry == date(2027, 2, 8)
    assert data.address_at_issue is None


def test_licence_without_pin_opens_with_the_dummy_pin(cards):
    reader = cards.put("licence_nakamura_no_pin.toml")
    tries = reader.tries_left()
    assert (tries.card, tries.pin_required, tries.tries) == ("licence", False, 3)
    data = reader.read("")
    assert data.name == "中村\u3000正" and data.birth_date == date(1941, 3, 3)
    assert cards.verifies_with_data() == [bytes.fromhex("0020008104") + b"****"]


def test_individual_number_only_when_asked(cards):
    reader = cards.put("mynumber_yamada.toml")
    reader.read("1234")
    select_ef1 = bytes.fromhex("00A4020C020001")
    assert select_ef1 not in cards.apdus
    data = reader.read("1234", with_individual_number=True)
    assert data.individual_number == "123456789018" and select_ef1 in cards.apdus
    assert "123456789018" not in repr(data)


@pytest.mark.parametrize("after", [1, 3, 4, 5])
def test_card_pulled_out_mid_read(cards, after):
    reader = cards.pull_after("mynumber_yamada.toml", after)
    with pytest.raises(CardRemoved) as e:
        reader.read("1234")
    assert e.value.code == "card_removed"
    with pytest.raises(NoCard):
        _wait_until_gone(reader)


def _wait_until_gone(reader, timeout=5.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reader.tries_left()
        except (CardRemoved, NoCard) as e:
            if isinstance(e, NoCard):
                raise
        time.sleep(0.05)


def test_unknown_card(cards):
    reader = cards.put("other_card.toml")
    with pytest.raises(UnknownCard) as e:
        reader.tries_left()
    assert e.value.code == "unknown_card"
    with pytest.raises(UnknownCard):
        reader.read("1234")
    assert cards.verifies_with_data() == []


def test_no_card(cards):
    with pytest.raises(NoCard) as e:
        cards.empty_reader().tries_left()
    assert e.value.code == "no_card"


def test_already_verified_card_is_reset_before_anything(cards):
    reader = cards.put("mynumber_yamada.toml")
    # Another program verified the PIN and left the card open.
    for apdu in ("00A4040C0AD3921000310001010408", "0020009104" + b"1234".hex()):
        cards.card.process(bytes.fromhex(apdu))
    assert reader.tries_left().tries == 3
    with pytest.raises(WrongPin):
        reader.read("1111")  # a session always starts closed: the visitor's own PIN decides


@pytest.mark.pcsc
def test_reader_name_that_matches_nothing_is_no_reader(pcsc_stack):
    with pytest.raises(NoReader) as e:
        CardReader(PcscTransport("Reader that is not plugged in")).tries_left()
    assert e.value.code == "no_reader"


def test_pcsc_without_pcscd_is_no_reader(tmp_path):
    # libpcsclite finds pcscd through this socket; pointing it nowhere is pcscd being down.
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(tmp_path / "no-pcscd.comm"))
    code = ("from hardware.cards.reader import CardReader\n"
            "from hardware.cards.transport import PcscTransport\n"
            "try:\n    CardReader(PcscTransport('')).tries_left()\n"
            "except Exception as e:\n    print(e.code)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "no_reader", out.stderr


def test_pin_and_personal_data_never_reach_the_log(cards, caplog):
    caplog.set_level(logging.DEBUG)
    reader = cards.put("mynumber_yamada.toml")
    with pytest.raises(WrongPin):
        reader.read("9876")
    data = reader.read("1234")
    assert "APDU VERIFY" in caplog.text  # the exchange is logged…
    for secret in ("9876", "1234", "39 38 37 36", "31 32 33 34", "39383736", "31323334",
                   "山田", "霞が関", "19800517", "1980-05-17"):
        assert secret not in caplog.text  # …without the PIN or the card's data
    assert "山田" not in repr(data) and "1980" not in repr(data)


def test_open_reader_emulated_default_and_simulated_insert_remove(config):
    from hardware.cards import open_reader
    reader = open_reader(config)
    assert isinstance(reader, EmulatedReader) and reader.card_present
    assert reader.read("1234").name == "山田\u3000太郎"
    reader.remove()
    with pytest.raises(NoCard):
        reader.tries_left()
    reader.insert("licence_watanabe_moved.toml")
    assert reader.tries_left().card == "licence"
    # The same process-wide slot: a second reader from the same config sees the same card.
    assert open_reader(config).tries_left().card == "licence"


def test_emulated_card_keeps_its_counters_while_the_process_runs(config):
    from hardware.cards import open_reader
    reader = open_reader(config)
    with pytest.raises(WrongPin):
        reader.read("0000")
    reader.remove()
    reader.insert(config.devices.emulator_persona)
    assert reader.tries_left().tries == 2
