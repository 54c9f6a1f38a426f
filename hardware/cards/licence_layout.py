"""Where the IC driver's licence keeps what (id-cards.md §B), shared by reader and emulator."""
from __future__ import annotations

from datetime import date

from core.japanese import parse_era_code_date, to_wareki

DF1_AID = bytes.fromhex("A0000002310100000000000000000000")
DF2_AID = bytes.fromhex("A0000002310200000000000000000000")
DF3_AID = bytes.fromhex("A0000002480300000000000000000000")

EF_COMMON = 0x2F01  # MF: 共通データ要素, free
EF_PIN_SETTING = 0x000A  # MF: 05 01 01 = PIN set, 05 01 00 = none (dummy PIN "****")
IEF_PIN1, IEF_PIN2 = 0x0001, 0x0002  # MF
PIN1_P2, PIN2_P2 = 0x81, 0x82  # VERIFY P2 = 80 | SFI
DUMMY_PIN = b"****"
MAX_TRIES = 3

EF_MATTERS = 0x0001  # DF1: 記載事項 (本籍除く), PIN1
EF_DOMICILE = 0x0002  # DF1: 本籍, PIN1 + PIN2 (never read here)
EF_GAIJI = 0x0003  # DF1: 外字 glyphs
EF_CHANGES = 0x0004  # DF1: 追記 (later changes)

# DF1/EF01 tags (1 byte each).
T_JIS_YEAR, T_NAME, T_KANA, T_ALIAS, T_UNIFIED_NAME = 0x11, 0x12, 0x13, 0x14, 0x15
T_BIRTH, T_ADDRESS, T_ISSUE, T_REFERENCE, T_COLOUR, T_EXPIRY = 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B
T_CONDITIONS = (0x1C, 0x1D, 0x1E, 0x1F)
T_COMMISSION, T_NUMBER = 0x20, 0x21
CLASS_NAMES = ("二・小・原", "他", "二種", "大型", "普通", "大特", "大自二", "普自二", "小特", "原付",
               "け引", "大二", "普二", "大特二", "け引二", "中型", "中二", "準中型")
CLASS_TAGS = {name: 0x22 + i for i, name in enumerate(CLASS_NAMES)}  # 0x22–0x33
JIS_X0208_TAGS = {T_NAME, T_KANA, T_ALIAS, T_UNIFIED_NAME, T_ADDRESS, T_COLOUR, *T_CONDITIONS, T_COMMISSION}

# DF1/EF04 (追記). Only tag 50 (追記の有無) is established by public sources; the change
# records below are this project's reading of the specification and are kept in this one
# place. The reader logs (by tag number only) anything else it finds there.
T_CHANGES_PRESENT = 0x50  # 00 = none, 01 = there are changes (JIS X 0201 '0'/'1' also accepted)
T_CHANGE_DATE = 0x51  # era + YYMMDD; starts one change record
T_CHANGE_NAME = 0x52  # JIS X 0208
T_CHANGE_KANA = 0x53  # JIS X 0208
T_CHANGE_ADDRESS = 0x54  # JIS X 0208
T_CHANGE_COMMISSION = 0x55  # JIS X 0208: the commission that recorded the change

MATTERS_SIZE = 880  # bytes of DF1/EF01 on issued cards; the rest is FF padding
CHANGES_SIZE = 640


def era_code_date(d: date) -> bytes:
    """7 JIS X 0201 characters: era digit (1 明治 … 5 令和) + YYMMDD of the era."""
    era, year = to_wareki(d)
    return f"{era.code}{year:02d}{d.month:02d}{d.day:02d}".encode("ascii")


def parse_era_date(raw: bytes) -> date:
    return parse_era_code_date(raw.decode("ascii"))

