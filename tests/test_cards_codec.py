"""TLV, JIS X 0208 and the file parsers, on bytes laid out as the reference describes."""
from datetime import date

import pytest

from hardware.cards import jisx0208, tlv
from hardware.cards import licence_layout as L
from hardware.cards.emulator.mynumber import basic_four
from hardware.cards.errors import CardUnreadable
from hardware.cards.protocols import apply_changes, parse_basic_four, parse_changes, parse_matters


def test_ber_lengths_short_and_long_forms():
    assert tlv.encode_length(0x7F) == b"\x7F"
    assert tlv.encode_length(0x80) == b"\x81\x80"
    assert tlv.encode_length(0x1234) == b"\x82\x12\x34"
    for n in (0, 1, 127, 128, 255, 256, 4000):
        data = tlv.encode(0xDF23, b"x" * n)
        (obj,) = tlv.parse(data)
        assert obj.tag == 0xDF23 and len(obj.value) == n and obj.end == len(data)


def test_multibyte_tags_and_incomplete_data():
    data = tlv.encode(0xFF20, tlv.encode(0xDF22, b"abc"))
    (outer,) = tlv.parse(data)
    assert outer.tag == 0xFF20
    assert tlv.parse(outer.value)[0].tag == 0xDF22
    with pytest.raises(tlv.Incomplete) as e:
        tlv.parse(data[:-1])
    assert e.value.needed == len(data)


def test_licence_tags_are_single_bytes_so_1f_is_a_tag():
    # 1F is 条件4 on the licence; BER would read it as the start of a two-byte tag.
    data = tlv.encode_licence(0x1F, "眼鏡等".encode("euc_jp")) + b"\xFF\xFF"
    (obj,) = tlv.parse(data, single_byte_tags=True, stop_at_padding=True)
    assert obj.tag == 0x1F
    long = tlv.encode_licence(0x17, b"\x30\x21" * 100)
    assert long[1:4] == b"\x82\x00\xC8"


def test_real_dump_shape_offsets_match_the_objects():
    # A 13-character name, as in the public dump: FF 20 7D DF 21 08 00 0E 00 20 …
    data = basic_four("山田　太郎", "東京都千代田区霞が関", date(1979, 5, 17), "1")
    assert data[:3] == b"\xFF\x20" + bytes([len(data) - 3])
    offsets = [int.from_bytes(data[6 + i:8 + i], "big") for i in range(0, 8, 2)]
    assert offsets[0] == 0x0E
    assert [data[o:o + 2] for o in offsets] == [b"\xDF\x22", b"\xDF\x23", b"\xDF\x24", b"\xDF\x25"]
    fields = parse_basic_four(data)
    assert fields["name"] == "山田\u3000太郎" and fields["birth_date"] == date(1979, 5, 17)


def test_long_address_uses_long_form_and_keeps_offsets_right():
    address = "北海道" + "１２３－４５" * 30
    data = basic_four("髙﨑　𠮷", address, date(2000, 2, 29), "2", filler=12)
    assert data[2] == 0x82 and len(data) > 256
    offsets = [int.from_bytes(data[8 + i:10 + i], "big") for i in range(0, 8, 2)]
    assert [data[o:o + 2] for o in offsets] == [b"\xDF\x22", b"\xDF\x23", b"\xDF\x24", b"\xDF\x25"]
    fields = parse_basic_four(data)
    assert fields["name"] == "髙﨑　𠮷" and fields["address"] == address and fields["sex"] == "female"


@pytest.mark.parametrize("code, sex", [("1", "male"), ("2", "female"), ("3", "unknown"), ("9", "unknown"),
                                       ("0", "unknown")])
def test_sex_codes(code, sex, caplog):
    fields = parse_basic_four(basic_four("a　b", "c", date(1990, 1, 1), code))
    assert fields["sex"] == sex
    if sex == "unknown":
        assert f"sex code '{code}'" in caplog.text


def test_offset_table_disagreement_is_logged_not_fatal(caplog):
    data = bytearray(basic_four("山田　花子", "住所", date(1990, 1, 1), "2"))
    data[7] += 1  # first offset now points one byte too far
    assert parse_basic_four(bytes(data))["name"] == "山田　花子"
    assert "DF21 offsets" in caplog.text


def test_malformed_basic_four_is_unreadable_without_personal_data():
    data = basic_four("山田　花子", "東京都", date(1990, 1, 1), "2")
    with pytest.raises(CardUnreadable) as e:
        parse_basic_four(data.replace(b"19900101", b"1990-1-1"))
    assert "山田" not in str(e.value) and "1990" not in str(e.value)
    with pytest.raises(CardUnreadable):
        parse_basic_four(b"\xFF\x21\x03\xDF\x22\x00")


def test_jis_x0208_decoding_and_common_mappings():
    raw = b"".join(jisx0208.encode_char(c) for c in "東京都１２－７－２０２～")
    text, gaiji = jisx0208.decode(raw, "address")
    assert text == "東京都１２－７－２０２～" and gaiji == []
    assert jisx0208.encode_char("－") == b"\x21\x5D"  # the row/cell of the JIS minus


def test_gaiji_markers_become_visible_placeholders():
    raw = jisx0208.encode_char("橋") + b"\xFF\xF1" + jisx0208.encode_char("口") + b"\xFF\xFA" + b"\x7F\x7F"
    text, gaiji = jisx0208.decode(raw, "name")
    assert text == "橋〓口〓〓"
    assert [(g.index, g.kind, g.number, g.label) for g in gaiji] == [
        (1, "gaiji", 1, "外字1"), (3, "missing", None, "欠字"), (4, "undecodable", None, "判読不能")]


@pytest.mark.parametrize("ch", ["髙", "﨑", "𠮷", "A", "ｱ", "丂"])
def test_characters_outside_jis_x0208_are_not_encodable(ch):
    assert not jisx0208.encodable(ch)


@pytest.mark.parametrize("d, code", [(date(1989, 1, 7), b"3640107"), (date(1989, 1, 8), b"4010108"),
                                     (date(2019, 4, 30), b"4310430"), (date(2019, 5, 1), b"5010501"),
                                     (date(1912, 7, 30), b"2010730"), (date(1900, 1, 1), b"1330101")])
def test_era_coded_dates_both_ways(d, code):
    assert L.era_code_date(d) == code
    assert L.parse_era_date(code) == d


def _matters(override: dict | None = None) -> bytes:
    x = lambda s: b"".join(jisx0208.encode_char(c) for c in s)  # noqa: E731
    tags = {L.T_NAME: x("渡辺　修"), L.T_KANA: x("わたなべ　おさむ"), L.T_BIRTH: b"3470615",
            L.T_ADDRESS: x("神奈川県横浜市"), L.T_EXPIRY: b"5080715"}
    tags.update(override or {})
    return b"".join(tlv.encode_licence(t, v) for t, v in tags.items()) + b"\xFF" * 20


def test_licence_matters_and_a_later_address_change():
    matters = parse_matters(_matters())
    assert matters["birth_date"] == date(1972, 6, 15) and matters["expiry"] == date(2026, 7, 15)
    x = lambda s: b"".join(jisx0208.encode_char(c) for c in s)  # noqa: E731
    changes = parse_changes(tlv.encode_licence(0x50, b"\x01") + tlv.encode_licence(0x51, b"5030401")
                            + tlv.encode_licence(0x54, x("東京都世田谷区")) + tlv.encode_licence(0x51, b"5050401")
                            + tlv.encode_licence(0x54, x("東京都港区")) + b"\xFF" * 8)
    out = apply_changes(matters, changes)
    assert out["address"] == "東京都港区" and out["address_at_issue"] == "神奈川県横浜市"


def test_unknown_change_tags_are_logged_by_number_only(caplog):
    x = lambda s: b"".join(jisx0208.encode_char(c) for c in s)  # noqa: E731
    records = parse_changes(tlv.encode_licence(0x50, b"\x01") + tlv.encode_licence(0x5A, x("秘密の値"))
                            + b"\xFF")
    assert records == []
    assert "5A" in caplog.text and "秘密" not in caplog.text
    assert "holds none" in caplog.text


def test_licence_without_a_birth_date_is_unreadable():
    with pytest.raises(CardUnreadable):
        parse_matters(_matters({L.T_BIRTH: b"9999999"}))
