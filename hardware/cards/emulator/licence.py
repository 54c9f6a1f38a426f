"""An emulated IC driver's licence (IC運転免許証), id-cards.md §B.

MF: EF2F01 common data and EF000A PIN設定 (free), PIN1/PIN2 in IEF 0001/0002 (3 tries each).
DF1: EF01 記載事項 (PIN1), EF02 本籍 (PIN1 + PIN2), EF03 外字, EF04 追記, EF05–07 (PIN1).
DF2: EF01 photo (PIN1 + PIN2). Text is JIS X 0208; characters outside it become 外字
FF F1…FF F7 (the first seven distinct ones on the card) and then 欠字 FF FA.
"""
from __future__ import annotations

import functools
import operator

import jaconv

from hardware.cards import jisx0208, tlv
from hardware.cards import licence_layout as L
from hardware.cards.emulator.engine import DF, EF, Behaviour, Card, Pin

# A contactless Type B card behind a PC/SC reader: the reader makes up the ATR
# (PC/SC part 3: 3B 88 80 01 + 7 bytes of ATQB/protocol information + TCK).
_ATR_BODY = bytes.fromhex("3B88800100000000000000")
ATR = _ATR_BODY + bytes([functools.reduce(operator.xor, _ATR_BODY[1:], 0)])

PIN1_ONLY = frozenset({"pin1"})
BOTH_PINS = frozenset({"pin1", "pin2"})


class GaijiTable:
    """Assigns 外字 numbers to characters JIS X 0208 lacks, card-wide."""

    def __init__(self):
        self.numbers: dict[str, int] = {}

    def encode(self, text: str) -> bytes:
        out = b""
        # The card stores full-width forms; a persona may be typed with ASCII digits.
        text = jaconv.h2z(text, kana=True, ascii=True, digit=True).replace(" ", "\u3000")
        for ch in text:
            code = jisx0208.encode_char(ch)
            if code is not None:
                out += code
                continue
            if ch not in self.numbers and len(self.numbers) < 7:
                self.numbers[ch] = len(self.numbers) + 1
            n = self.numbers.get(ch)
            out += bytes([0xFF, jisx0208.GAIJI_FIRST + n - 1]) if n else bytes([0xFF, jisx0208.MISSING])
        return out


class LicenceCard(Card):
    kind = "licence"


def _bcd(d) -> bytes:
    return bytes.fromhex(d.strftime("%Y%m%d"))


def build(persona) -> LicenceCard:
    p = persona
    gaiji = GaijiTable()
    x0208 = gaiji.encode

    matters = [tlv.encode_licence(L.T_JIS_YEAR, b"\x02")]
    matters.append(tlv.encode_licence(L.T_NAME, x0208(p.name)))
    matters.append(tlv.encode_licence(L.T_KANA, x0208(p.kana or "")))
    matters.append(tlv.encode_licence(L.T_ALIAS, x0208(p.alias or "")))
    matters.append(tlv.encode_licence(L.T_UNIFIED_NAME, x0208(p.unified_name or "")))
    matters.append(tlv.encode_licence(L.T_BIRTH, L.era_code_date(p.birth_date)))
    matters.append(tlv.encode_licence(L.T_ADDRESS, x0208(p.address)))
    matters.append(tlv.encode_licence(L.T_ISSUE, L.era_code_date(p.issue_date)))
    matters.append(tlv.encode_licence(L.T_REFERENCE, p.reference_number.encode("ascii")))
    matters.append(tlv.encode_licence(L.T_COLOUR, x0208(p.colour)))
    matters.append(tlv.encode_licence(L.T_EXPIRY, L.era_code_date(p.expiry)))
    for i, tag in enumerate(L.T_CONDITIONS):
        matters.append(tlv.encode_licence(tag, x0208(p.conditions[i]) if i < len(p.conditions) else b""))
    matters.append(tlv.encode_licence(L.T_COMMISSION, x0208(p.commission)))
    matters.append(tlv.encode_licence(L.T_NUMBER, p.licence_number.encode("ascii")))
    for name, tag in L.CLASS_TAGS.items():
        d = p.classes.get(name)
        matters.append(tlv.encode_licence(tag, L.era_code_date(d) if d else b""))
    ef_matters = b"".join(matters)
    ef_matters += b"\xFF" * max(0, L.MATTERS_SIZE - len(ef_matters))

    changes = [tlv.encode_licence(L.T_CHANGES_PRESENT, b"\x01" if p.changes else b"\x00")]
    for ch in p.changes:
        changes.append(tlv.encode_licence(L.T_CHANGE_DATE, L.era_code_date(ch["date"])))
        for key, tag in (("name", L.T_CHANGE_NAME), ("kana", L.T_CHANGE_KANA),
                         ("address", L.T_CHANGE_ADDRESS), ("commission", L.T_CHANGE_COMMISSION)):
            if ch.get(key):
                changes.append(tlv.encode_licence(tag, x0208(ch[key])))
    ef_changes = b"".join(changes)
    ef_changes += b"\xFF" * max(0, L.CHANGES_SIZE - len(ef_changes))

    ef_domicile = tlv.encode_licence(0x41, x0208(p.domicile or ""))
    ef_domicile += b"\xFF" * max(0, 82 - len(ef_domicile))
    # 外字 glyphs (tags 48/49): the emulator has no bitmaps, only one record per 外字 number.
    ef_gaiji = b"".join(tlv.encode_licence(0x48, bytes([n]) + bytes(31)) for n in sorted(gaiji.numbers.values()))
    ef_gaiji += b"\xFF" * max(0, 264 - len(ef_gaiji))

    common = (tlv.encode_licence(0x45, p.spec_version.encode("ascii") + _bcd(p.issue_date) + _bcd(p.expiry))
              + tlv.encode_licence(0x46, b"\x01\x01"))

    mf = DF("MF", fid=0x3F00)
    mf.add(EF(L.EF_COMMON, common))
    mf.add(EF(L.EF_PIN_SETTING, b"\x05\x01" + (b"\x01" if p.pin_set else b"\x00")))
    pin1 = p.pin1.encode("ascii") if p.pin_set else L.DUMMY_PIN
    pin2 = p.pin2.encode("ascii") if p.pin_set else L.DUMMY_PIN
    mf.add_pin(Pin("pin1", pin1, p.tries, p.max_tries, fid=L.IEF_PIN1, sfi=0x01))
    mf.add_pin(Pin("pin2", pin2, p.tries2, p.max_tries, fid=L.IEF_PIN2, sfi=0x02))

    df1 = mf.add_df(DF("DF1", aid=L.DF1_AID))
    df1.add(EF(L.EF_MATTERS, ef_matters, access=[PIN1_ONLY]))
    df1.add(EF(L.EF_DOMICILE, ef_domicile, access=[BOTH_PINS]))
    df1.add(EF(L.EF_GAIJI, ef_gaiji, access=[PIN1_ONLY]))
    df1.add(EF(L.EF_CHANGES, ef_changes, access=[PIN1_ONLY]))
    for fid, size in ((0x0005, 663), (0x0006, 256)):
        df1.add(EF(fid, b"\xFF" * size, access=[PIN1_ONLY]))
    # B1: the police's signature; an emulator cannot make a real one.
    df1.add(EF(0x0007, (tlv.encode_licence(0xB1, bytes(256)) + b"\xFF" * 578)[:578], access=[PIN1_ONLY]))
    df2 = mf.add_df(DF("DF2", aid=L.DF2_AID))
    # A JPEG 2000 codestream starts with SOC (FF 4F) and SIZ (FF 51); ours is only that header.
    df2.add(EF(0x0001, tlv.encode(0x5F40, bytes.fromhex("FF4FFF51") + bytes(60)), access=[BOTH_PINS]))
    mf.add_df(DF("DF3", aid=L.DF3_AID))
    return LicenceCard(mf, ATR, Behaviour(**p.behaviour))
