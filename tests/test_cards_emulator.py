"""The emulated cards at the APDU level: the status words and rules of id-cards.md."""
import hashlib

import pytest

from hardware.cards import tlv
from hardware.cards.emulator import load_card, persona
from hardware.cards.emulator.engine import Card
from tests.fixtures_cards import persona_path

TEXT_AP = "00A4040C0AD3921000310001010408"
DF1 = "00A4040C10A0000002310100000000000000000000"


def send(card: Card, hexstr: str) -> tuple[bytes, str]:
    raw = card.process(bytes.fromhex(hexstr.replace(" ", "")))
    return raw[:-2], raw[-2:].hex().upper()


@pytest.fixture
def yamada():
    return load_card(persona_path("mynumber_yamada.toml"))


def test_tries_count_down_and_block(yamada):
    assert send(yamada, TEXT_AP)[1] == "9000"
    assert send(yamada, "00A4020C020011")[1] == "9000"
    assert send(yamada, "00200080")[1] == "63C3"  # asking uses none
    assert send(yamada, "00200080")[1] == "63C3"
    assert send(yamada, "0020008004 30303030")[1] == "63C2"
    assert send(yamada, "0020008004 30303030")[1] == "63C1"
    assert send(yamada, "0020008004 30303030")[1] == "63C0"  # the attempt that blocks it
    assert send(yamada, "00200080")[1] == "6984"
    assert send(yamada, "0020008004 31323334")[1] == "6984"  # even the right PIN, from now on
    assert yamada.all_pins()["pin"].tries == 0


def test_correct_pin_resets_the_counter_and_opens_the_file(yamada):
    send(yamada, TEXT_AP)
    send(yamada, "00A4020C020011")
    send(yamada, "0020008004 39393939")
    assert send(yamada, "00200080")[1] == "63C2"
    assert send(yamada, "00A4020C020002")[1] == "9000"
    assert send(yamada, "00B0000007")[1] == "6982"  # not before the PIN
    send(yamada, "00A4020C020011")
    assert send(yamada, "0020008004 31323334")[1] == "9000"
    assert send(yamada, "00200080")[1] == "9000"  # some cards answer 9000 once verified
    assert yamada.all_pins()["pin"].tries == 3
    send(yamada, "00A4020C020002")
    data, sw = send(yamada, "00B0000000")
    assert sw == "6282" and data[:2] == b"\xFF\x20"  # fewer bytes than Le: end of file
    assert send(yamada, "00B0100000")[1] == "6B00"  # offset past the end
    assert send(yamada, "00A4020C020099")[1] == "6A82"
    yamada.reset()
    send(yamada, TEXT_AP)
    send(yamada, "00A4020C020002")
    assert send(yamada, "00B0000007")[1] == "6982"  # a reset closes it again


def test_short_ef_identifiers(yamada):
    send(yamada, TEXT_AP)
    assert send(yamada, "0020009104 31323334")[1] == "9000"  # P2 = 80 | SFI 11
    data, sw = send(yamada, "00B0820000")  # P1 = 80 | SFI 02
    assert sw == "6282" and tlv.parse(data, stop_at_padding=True)[0].tag == 0xFF20


def test_individual_number_file_layout_and_its_own_rules(yamada):
    send(yamada, TEXT_AP)
    send(yamada, "00A4020C020001")
    assert send(yamada, "00B0000011")[1] == "6982"
    # 照合番号A (the 12-digit number itself) opens EF0001 but not the basic-four file.
    send(yamada, "00A4020C020014")
    assert send(yamada, "00200080")[1] == "63CA"  # 10 tries
    assert send(yamada, "002000800C" + b"123456789018".hex())[1] == "9000"
    send(yamada, "00A4020C020001")
    data, sw = send(yamada, "00B0000011")
    assert sw == "9000" and data == b"\xFF\x10\x0C123456789018\xFF\xFF"
    send(yamada, "00A4020C020002")
    assert send(yamada, "00B0000007")[1] == "6982"


def test_verification_number_b_opens_the_basic_four_and_hashes_match(yamada):
    send(yamada, TEXT_AP)
    send(yamada, "00A4020C020015")
    # born 昭和55-05-17, expiry 2035, security code 2285
    assert send(yamada, "002000800E" + b"55051720352285".hex())[1] == "9000"
    send(yamada, "00A4020C020002")
    basic, _ = send(yamada, "00B0000000")
    send(yamada, "00A4020C020003")
    first, sw = send(yamada, "00B0000000")
    assert sw == "9000" and len(first) == 256
    rest, sw = send(yamada, "00B0010000")  # offset 256: the file is longer than one READ
    assert sw == "6282"
    hashes = first + rest
    inner = {o.tag: o.value for o in tlv.parse(tlv.parse(hashes, stop_at_padding=True)[0].value)}
    outer = tlv.parse(basic, stop_at_padding=True)[0]
    assert inner[0xDF32] == hashlib.sha256(outer.value[11:]).digest()
    assert inner[0xDF31] == hashlib.sha256(b"\xFF\x10\x0C123456789018\xFF\xFF").digest()


def test_selecting_another_ap_closes_the_text_ap(yamada):
    send(yamada, TEXT_AP)
    send(yamada, "0020009104 31323334")
    assert send(yamada, "00A4040C0AD392F000260100000001")[1] == "9000"  # JPKI
    send(yamada, TEXT_AP)
    send(yamada, "00A4020C020002")
    assert send(yamada, "00B0000007")[1] == "6982"


def test_my_number_card_refuses_select_mf_and_unknown_commands(yamada):
    assert send(yamada, "00A40000")[1] == "6A86"
    assert send(yamada, DF1)[1] == "6A82"
    assert send(yamada, "00CA010000")[1] == "6D00"
    assert send(yamada, "80A4040C0AD3921000310001010408")[1] == "6E00"


def test_get_response_and_wrong_le_quirks():
    card = load_card(persona_path("mynumber_t0_quirks.toml"))
    send(card, TEXT_AP)
    send(card, "0020009104 31333537")
    send(card, "00A4020C020002")
    _, sw = send(card, "00B0000000")
    assert sw.startswith("6C")  # asked past the end: told the right Le
    _, sw = send(card, "00B00000" + sw[2:])
    assert sw.startswith("61")  # data waiting
    data, sw = send(card, "00C00000" + sw[2:])
    assert sw == "9000" and data[:2] == b"\xFF\x20"


def test_licence_pins_at_mf_and_access_rules():
    card = load_card(persona_path("licence_watanabe_moved.toml"))
    assert send(card, TEXT_AP)[1] == "6A82"
    assert send(card, DF1)[1] == "9000"
    send(card, "00A40000")
    send(card, "00A4020C02000A")
    assert send(card, "00B0000003") == (b"\x05\x01\x01", "9000")
    send(card, "00A4020C022F01")
    common, sw = send(card, "00B0000011")
    assert sw == "9000" and common[:2] == b"\x45\x0B" and common[2:5] == b"008"
    assert common[5:9] == bytes.fromhex("20210620")  # issue date, BCD
    assert send(card, "00200081")[1] == "63C3"
    assert send(card, "00200082")[1] == "63C3"
    assert send(card, "0020008104 31313131")[1] == "9000"
    send(card, DF1)
    send(card, "00A4020C020001")
    data, sw = send(card, "00B0000000")
    assert sw == "9000" and len(data) == 256
    send(card, "00A4020C020002")
    assert send(card, "00B0000000")[1] == "6982"  # 本籍 needs PIN2 as well
    send(card, "00A40000")
    assert send(card, "0020008204 32323232")[1] == "9000"
    send(card, DF1)
    send(card, "00A4020C020002")
    assert send(card, "00B0000000")[1] == "6282"


def test_licence_pin_blocks_with_6984():
    card = load_card(persona_path("licence_kobayashi_last_try.toml"))
    send(card, "00A40000")
    assert send(card, "00200081")[1] == "63C1"
    assert send(card, "0020008104 30303030")[1] == "63C0"
    assert send(card, "00200081")[1] == "6984"


def test_other_card_has_none_of_our_applications():
    card = load_card(persona_path("other_card.toml"))
    assert send(card, TEXT_AP)[1] == "6A82"
    assert send(card, DF1)[1] == "6A82"


def test_every_shipped_persona_loads_and_the_demo_card_is_as_documented():
    for path in persona.shipped():
        assert persona.load(path).build_card().atr
    demo = persona.load(persona_path("mynumber_yamada.toml"))
    assert (demo.card, demo.name, demo.pin, demo.tries) == ("mynumber", "山田\u3000太郎", "1234", 3)


def test_persona_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('card = "mynumber"\n[person]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(persona.PersonaError, match="missing key address"):
        persona.load(bad)
    bad.write_text('card = "mynumber"\n[person]\nname = "x"\naddress = "y"\nbirth_date = 1990-01-01\n'
                   'individual_number = "123456789012"\nexpiry = 2030-01-01\n[pin]\nvalue = "1234"\n',
                   encoding="utf-8")
    with pytest.raises(persona.PersonaError, match="check digit"):
        persona.load(bad)
