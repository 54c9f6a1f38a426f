"""What the reader says to each card (id-cards.md §A and §B), transport-independent.

Each protocol: `detect` (select its application), `pin_state` (tries left via the empty
VERIFY, which uses none), `verify`, and `read` of the fields. `CardReader` strings them
together with the safety rules.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from hardware.cards import jisx0208, tlv
from hardware.cards import licence_layout as L
from hardware.cards.apdu import CardChannel, Response
from hardware.cards.errors import Blocked, CardUnreadable, WrongPin
from hardware.cards.jisx0208 import Gaiji
from hardware.cards.model import LICENCE, MYNUMBER

log = logging.getLogger(__name__)

VERIFIED = -1  # pin_status: the PIN is already verified (an empty VERIFY answered 9000)


@dataclass(frozen=True)
class PinState:
    tries: int  # VERIFIED when the card says the PIN is already verified
    pin_required: bool = True


def pin_status(resp: Response, what: str) -> int:
    """Tries left from a VERIFY answer; 0 = blocked; VERIFIED when already open."""
    if resp.sw1 == 0x63 and resp.sw2 & 0xF0 == 0xC0:
        return resp.sw2 & 0x0F
    if resp.sw in (0x6984, 0x6983, 0x6283):  # 6983 not seen on these cards, but it means blocked
        return 0
    if resp.sw == 0x9000:
        return VERIFIED
    log.warning("%s: unexpected VERIFY status %04X", what, resp.sw)
    raise CardUnreadable(f"unexpected answer {resp.sw:04X} to VERIFY")


def _verify_result(resp: Response, card: str):
    if resp.ok:
        return
    tries = pin_status(resp, card)
    if tries == 0:
        raise Blocked(card)
    if tries == VERIFIED:  # cannot be: 9000 is handled above
        return
    raise WrongPin(tries, card)


def _expect_ok(resp: Response, what: str):
    if not resp.ok:
        log.warning("%s failed with status %04X", what, resp.sw)
        raise CardUnreadable(f"{what} failed ({resp.sw:04X})")


def _ber_total(data: bytes) -> int | None:
    try:
        _tag, pos = tlv.read_ber_tag(data, 0)
        length, pos = tlv.read_length(data, pos)
    except tlv.TLVError:
        return None
    return pos + length


# ---------------------------------------------------------------------------------------
# My Number card: 券面事項入力補助AP

TEXT_AP = bytes.fromhex("D3921000310001010408")
EF_PIN, EF_INDIVIDUAL_NUMBER, EF_BASIC_FOUR = 0x0011, 0x0001, 0x0002
SEX = {"1": "male", "2": "female"}


class MyNumberProtocol:
    kind = MYNUMBER
    max_tries = 3
    counterparty = "mynumber_card"

    def detect(self, ch: CardChannel) -> bool:
        return ch.select_aid(TEXT_AP).ok

    def pin_state(self, ch: CardChannel) -> PinState:
        _expect_ok(ch.select_ef(EF_PIN), "selecting the PIN")
        return PinState(pin_status(ch.verify_status(0x80), self.kind))

    def verify(self, ch: CardChannel, pin: bytes):
        # The PIN EF is still selected from pin_state().
        _verify_result(ch.verify(0x80, pin), self.kind)

    def read(self, ch: CardChannel, *, with_individual_number: bool = False) -> dict:
        _expect_ok(ch.select_ef(EF_BASIC_FOUR), "selecting the basic-four file")
        fields = parse_basic_four(ch.read_file(256, total=_ber_total))
        if with_individual_number:
            _expect_ok(ch.select_ef(EF_INDIVIDUAL_NUMBER), "selecting the individual-number file")
            fields["individual_number"] = parse_individual_number(ch.read_file(17, total=_ber_total))
        return fields


def _utf8(value: bytes, field: str, gaiji: list[Gaiji]) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("basic-four %s is not valid UTF-8; undecodable bytes shown as %s", field, jisx0208.PLACEHOLDER)
        text = value.decode("utf-8", errors="replace")
        out = []
        for ch in text:
            if ch == "\ufffd":
                gaiji.append(Gaiji(field, len(out), "undecodable"))
                ch = jisx0208.PLACEHOLDER
            out.append(ch)
        return "".join(out)


def parse_basic_four(data: bytes) -> dict:
    """EF0002: FF20 { DF21 offsets, DF22 name, DF23 address, DF24 birth date, DF25 sex }."""
    try:
        outer_tag, pos = tlv.read_ber_tag(data, 0)
        length, pos = tlv.read_length(data, pos)
    except tlv.TLVError as e:
        raise CardUnreadable(f"basic-four file: {e}") from None
    if outer_tag != 0xFF20:
        raise CardUnreadable(f"basic-four file starts with tag {outer_tag:X}, not FF20")
    if pos + length > len(data):
        raise CardUnreadable("basic-four file is shorter than its length says")
    header = pos
    try:
        objects = tlv.parse(data, start=header, end=header + length)
    except tlv.TLVError as e:
        raise CardUnreadable(f"basic-four file: {e}") from None
    by_tag = {o.tag: o for o in objects}
    missing = [f"{t:X}" for t in (0xDF22, 0xDF23, 0xDF24, 0xDF25) if t not in by_tag]
    if missing:
        raise CardUnreadable(f"basic-four file lacks {', '.join(missing)}")
    offsets = by_tag.get(0xDF21)
    if offsets is None or len(offsets.value) != 8:
        log.warning("basic-four file: DF21 offset table missing or not 8 bytes")
    else:
        table = [int.from_bytes(offsets.value[i:i + 2], "big") for i in range(0, 8, 2)]
        actual = [by_tag[t].offset for t in (0xDF22, 0xDF23, 0xDF24, 0xDF25)]
        if table != actual:
            # Loud but not fatal: the objects themselves parse, and they are what we return.
            log.warning("basic-four file: DF21 offsets %s disagree with the objects at %s", table, actual)
    gaiji: list[Gaiji] = []
    name = _utf8(by_tag[0xDF22].value, "name", gaiji)
    address = _utf8(by_tag[0xDF23].value, "address", gaiji)
    raw_birth = by_tag[0xDF24].value
    try:
        text = raw_birth.decode("ascii")
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        birth = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise CardUnreadable("basic-four birth date is not YYYYMMDD") from None
    code = by_tag[0xDF25].value.decode("ascii", errors="replace")
    sex = SEX.get(code)
    if sex is None:
        # Only 1 and 2 have been seen on cards; 3 and 9 appear in other codings.
        log.warning("basic-four sex code %r is neither 1 nor 2: shown as unknown", code)
        sex = "unknown"
    return {"name": name, "address": address, "birth_date": birth, "sex": sex, "gaiji": gaiji}


def parse_individual_number(data: bytes) -> str:
    try:
        objs = tlv.parse(data, stop_at_padding=True)
    except tlv.TLVError as e:
        raise CardUnreadable(f"individual-number file: {e}") from None
    if not objs or objs[0].tag != 0xFF10 or len(objs[0].value) != 12 or not objs[0].value.isdigit():
        raise CardUnreadable("individual-number file is not FF10 with 12 digits")
    return objs[0].value.decode("ascii")


# ---------------------------------------------------------------------------------------
# IC driver's licence

class LicenceProtocol:
    kind = LICENCE
    max_tries = L.MAX_TRIES
    counterparty = "driving_licence"

    def detect(self, ch: CardChannel) -> bool:
        return ch.select_aid(L.DF1_AID).ok

    def pin_state(self, ch: CardChannel) -> PinState:
        _expect_ok(ch.select_mf(), "selecting the MF")
        pin_required = True
        if ch.select_ef(L.EF_PIN_SETTING).ok:
            setting = ch.read_binary(0, 3)
            if setting.ok and setting.data[:2] == b"\x05\x01" and len(setting.data) == 3:
                pin_required = setting.data[2] != 0x00
            else:
                log.warning("licence PIN setting file unreadable (%04X); assuming a PIN is set", setting.sw)
        tries = pin_status(ch.verify_status(L.PIN1_P2), self.kind)
        return PinState(tries, pin_required)

    def verify(self, ch: CardChannel, pin: bytes):
        # The MF is still the current DF from pin_state(): PIN1 is its IEF 0001 (P2 = 81).
        _verify_result(ch.verify(L.PIN1_P2, pin), self.kind)

    def read(self, ch: CardChannel, *, with_individual_number: bool = False) -> dict:
        _expect_ok(ch.select_aid(L.DF1_AID), "selecting DF1")
        _expect_ok(ch.select_ef(L.EF_MATTERS), "selecting 記載事項")
        matters = parse_matters(ch.read_file(256, total=_licence_total))
        _expect_ok(ch.select_ef(L.EF_CHANGES), "selecting 追記")
        changes = parse_changes(ch.read_file(256, total=_licence_total))
        return apply_changes(matters, changes)


def _licence_total(data: bytes) -> int | None:
    """Complete once the TLV stream reaches its FF padding."""
    try:
        objs = tlv.parse(data, single_byte_tags=True, stop_at_padding=True)
    except tlv.Incomplete:
        return None
    except tlv.TLVError:
        return len(data)  # malformed: stop reading; the parser will say what is wrong
    end = objs[-1].end if objs else 0
    return end if end < len(data) else None


def _licence_objects(data: bytes, what: str) -> dict[int, bytes]:
    try:
        objs = tlv.parse(data, single_byte_tags=True, stop_at_padding=True)
    except tlv.TLVError as e:
        raise CardUnreadable(f"licence {what}: {e}") from None
    return {o.tag: o.value for o in objs}


def _era_date(value: bytes, what: str) -> date | None:
    if not value:
        return None
    try:
        return L.parse_era_date(value)
    except (ValueError, UnicodeDecodeError):
        raise CardUnreadable(f"licence {what} is not an era-coded date") from None


def parse_matters(data: bytes) -> dict:
    """DF1/EF01 記載事項: JIS X 0208 text, era-coded dates."""
    tags = _licence_objects(data, "記載事項")
    for tag in (L.T_NAME, L.T_BIRTH, L.T_ADDRESS):
        if tag not in tags:
            raise CardUnreadable(f"licence 記載事項 lacks tag {tag:02X}")
    gaiji: list[Gaiji] = []

    def text(tag: int, field: str) -> str:
        value, found = jisx0208.decode(tags.get(tag, b""), field)
        gaiji.extend(found)
        return value

    kana = text(L.T_KANA, "kana") or text(L.T_UNIFIED_NAME, "kana") or None
    birth = _era_date(tags[L.T_BIRTH], "birth date")
    if birth is None:
        raise CardUnreadable("licence birth date is empty")
    return {"name": text(L.T_NAME, "name"), "kana": kana, "address": text(L.T_ADDRESS, "address"),
            "birth_date": birth, "sex": "unknown", "expiry": _era_date(tags.get(L.T_EXPIRY, b""), "expiry"),
            "gaiji": gaiji}


def parse_changes(data: bytes) -> list[dict]:
    """DF1/EF04 追記: a flag, then change records (see licence_layout for the tags)."""
    try:
        objs = tlv.parse(data, single_byte_tags=True, stop_at_padding=True)
    except tlv.TLVError as e:
        raise CardUnreadable(f"licence 追記: {e}") from None
    if not objs:
        return []
    present = None
    records: list[dict] = []
    unexpected: set[int] = set()
    for o in objs:
        if o.tag == L.T_CHANGES_PRESENT:
            present = o.value[:1] in (b"\x01", b"1")
        elif o.tag == L.T_CHANGE_DATE:
            records.append({"date": _era_date(o.value, "change date")})
        elif o.tag in (L.T_CHANGE_NAME, L.T_CHANGE_KANA, L.T_CHANGE_ADDRESS, L.T_CHANGE_COMMISSION):
            if not records:
                records.append({"date": None})
            key = {L.T_CHANGE_NAME: "name", L.T_CHANGE_KANA: "kana", L.T_CHANGE_ADDRESS: "address",
                   L.T_CHANGE_COMMISSION: "commission"}[o.tag]
            records[-1][key] = o.value
        else:
            unexpected.add(o.tag)
    if unexpected:
        log.warning("licence 追記 holds tags this reader does not know: %s",
                    ", ".join(f"{t:02X}" for t in sorted(unexpected)))
    if present is None:
        log.warning("licence 追記 has no 追記の有無 flag (tag 50)")
    elif not present and records:
        log.warning("licence 追記 says there are no changes but holds %d records; using them", len(records))
    elif present and not records:
        log.warning("licence 追記 says there are changes but holds none this reader understands")
    return records


def apply_changes(matters: dict, records: list[dict]) -> dict:
    """The newest recorded name/address become current; what was printed at issue is kept."""
    out = dict(matters)
    gaiji = list(matters["gaiji"])
    for field, issue_key in (("address", "address_at_issue"), ("name", "name_at_issue")):
        latest = next((r[field] for r in reversed(records) if r.get(field)), None)
        if latest is None:
            continue
        out[issue_key] = out[field]
        # Placeholders of the original now belong to the *_at_issue field.
        gaiji = [Gaiji(issue_key, g.index, g.kind, g.number) if g.field == field else g for g in gaiji]
        out[field], found = jisx0208.decode(latest, field)
        gaiji.extend(found)
    latest_kana = next((r["kana"] for r in reversed(records) if r.get("kana")), None)
    if latest_kana is not None:
        gaiji = [g for g in gaiji if g.field != "kana"]
        out["kana"], found = jisx0208.decode(latest_kana, "kana")
        gaiji.extend(found)
    out["gaiji"] = gaiji
    return out


PROTOCOLS = (MyNumberProtocol(), LicenceProtocol())
