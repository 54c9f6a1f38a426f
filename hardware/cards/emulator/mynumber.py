"""An emulated My Number card (個人番号カード): the 券面事項入力補助AP with its files.

Layout and access rules follow docs/…/id-cards.md §A:
EF0011 PIN (4 digits, 3 tries), EF0014 照合番号A, EF0015 照合番号B (10 tries each);
EF0001 個人番号 (PIN or A), EF0002 基本4情報 (PIN or B), EF0003 hashes (PIN, A or B),
EF0004/0005 free. The other APs exist so selecting them behaves as on a card, but hold
no files we emulate.
"""
from __future__ import annotations

import hashlib
from datetime import date

from core.japanese import to_wareki
from hardware.cards import tlv
from hardware.cards.emulator.engine import DF, EF, Behaviour, Card, Pin

TEXT_AP = bytes.fromhex("D3921000310001010408")
JPKI_AP = bytes.fromhex("D392F000260100000001")
VISUAL_AP = bytes.fromhex("D3921000310001010402")
JUKI_AP = bytes.fromhex("D3921000310001010100")
# The contact interface's ATR (T=1 only), as OpenSC lists it for these cards.
ATR = bytes.fromhex("3BE000FF8131FE4514")

PIN_ONLY = frozenset({"pin"})


def basic_four(name: str, address: str, birth_date: date, sex_code: str, filler: int = 0) -> bytes:
    """EF0002: FF20 { DF21 offsets, DF22 name, DF23 address, DF24 YYYYMMDD, DF25 sex } + filler."""
    objects = [
        tlv.encode(0xDF22, name.encode("utf-8")),
        tlv.encode(0xDF23, address.encode("utf-8")),
        tlv.encode(0xDF24, birth_date.strftime("%Y%m%d").encode("ascii")),
        tlv.encode(0xDF25, sex_code.encode("ascii")),
    ]
    inner_len = 3 + 8 + sum(map(len, objects))  # DF21 08 + 4 offsets, then the objects
    header = b"\xFF\x20" + tlv.encode_length(inner_len)
    offsets, pos = b"", len(header) + 11
    for obj in objects:
        offsets += pos.to_bytes(2, "big")
        pos += len(obj)
    return header + tlv.encode(0xDF21, offsets) + b"".join(objects) + b"\xFF" * filler


def individual_number_file(number: str) -> bytes:
    """EF0001: FF 10 0C + 12 ASCII digits, stored as 17 bytes (2 bytes of FF filler)."""
    return b"\xFF\x10\x0C" + number.encode("ascii") + b"\xFF\xFF"


def verification_b(birth_date: date, expiry: date, security_code: str) -> str:
    """照合番号B: birth date as era YYMMDD + expiry year + the 4-digit security code."""
    _, era_year = to_wareki(birth_date)
    return f"{era_year:02d}{birth_date.month:02d}{birth_date.day:02d}{expiry.year:04d}{security_code}"


class MyNumberCard(Card):
    kind = "mynumber"


def build(persona) -> MyNumberCard:
    p = persona
    ef1 = individual_number_file(p.individual_number)
    ef2 = basic_four(p.name, p.address, p.birth_date, p.sex_code, p.filler)
    signed = tlv.parse(ef2, stop_at_padding=True)[0].value[11:]  # FF20's value after DF21
    ef3 = tlv.encode(0xFF30, tlv.encode(0xDF31, hashlib.sha256(ef1).digest())
                     + tlv.encode(0xDF32, hashlib.sha256(signed).digest())
                     # The real signature is J-LIS's RSA-2048; an emulator cannot make it.
                     + tlv.encode(0xDF33, bytes(256)))

    mf = DF("MF", fid=0x3F00)
    text = mf.add_df(DF("券面事項入力補助AP", aid=TEXT_AP))
    text.add_pin(Pin("pin", p.pin.encode("ascii"), p.tries, p.max_tries, fid=0x0011, sfi=0x11))
    text.add_pin(Pin("a", p.individual_number.encode("ascii"), p.verification_tries,
                     p.verification_tries, fid=0x0014, sfi=0x14))
    text.add_pin(Pin("b", verification_b(p.birth_date, p.expiry, p.security_code).encode("ascii"),
                     p.verification_tries, p.verification_tries, fid=0x0015, sfi=0x15))
    text.add(EF(0x0001, ef1, sfi=0x01, access=[PIN_ONLY, frozenset({"a"})]))
    text.add(EF(0x0002, ef2, sfi=0x02, access=[PIN_ONLY, frozenset({"b"})]))
    text.add(EF(0x0003, ef3, sfi=0x03, access=[PIN_ONLY, frozenset({"a"}), frozenset({"b"})]))
    text.add(EF(0x0004, tlv.encode(0x7F21, bytes(16)), sfi=0x04))
    text.add(EF(0x0005, tlv.encode(0xFF40, bytes(16)), sfi=0x05))
    for name, aid in (("JPKI-AP", JPKI_AP), ("券面AP", VISUAL_AP), ("住基AP", JUKI_AP)):
        mf.add_df(DF(name, aid=aid))
    behaviour = Behaviour(select_mf="6A86", **p.behaviour)
    return MyNumberCard(mf, ATR, behaviour)
