"""Random personas round-trip through emulator and reader: whatever is on the card comes back.

My Number: any Unicode name and address (any length the file can hold), any birth date,
any sex code, random filler and card quirks. Licence: JIS X 0208 text mixed with
characters it lacks, which must come back as visible 外字/欠字 placeholders in place.
"""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware.cards import jisx0208
from hardware.cards.direct import EmulatedSlot
from hardware.cards.emulator.persona import Persona, check_digit
from hardware.cards.reader import CardReader, EmulatedReader
from hardware.cards.transport import PcscTransport
from tests.fixtures_cards import VPCD_READER

UNICODE = st.characters(blacklist_categories=("Cs",))  # anything UTF-8 can carry
digits = st.text("0123456789", min_size=4, max_size=4)


@st.composite
def mynumber_personas(draw):
    first11 = draw(st.text("0123456789", min_size=11, max_size=11))
    return Persona(
        card="mynumber",
        name=draw(st.text(UNICODE, min_size=1, max_size=40)) + "\u3000" + draw(st.text(UNICODE, max_size=40)),
        address=draw(st.text(UNICODE, min_size=0, max_size=2500)),
        birth_date=draw(st.dates(date(1900, 1, 1), date(2030, 12, 31))),
        sex_code=draw(st.sampled_from("12390")),
        individual_number=first11 + check_digit(first11),
        expiry=date(2035, 1, 1),
        security_code="1234",
        pin=draw(digits),
        tries=draw(st.integers(2, 3)),
        filler=draw(st.integers(0, 64)),
        behaviour={"read_past_end": draw(st.sampled_from(["6282", "6C", "short"])),
                   "get_response": draw(st.booleans())},
    )


def _jis_chars() -> list[str]:
    out = []
    for row in range(0x21, 0x75):
        for cell in range(0x21, 0x7F):
            text, gaiji = jisx0208.decode(bytes([row, cell]), "x")
            if not gaiji:
                out.append(text)
    return out


JIS = _jis_chars()
# Characters JIS X 0208 lacks (髙 﨑 𠮷 …), with two it has among them (塚 逢) for contrast.
OTHERS = ["髙", "﨑", "𠮷", "丂", "☃", "é", "ǅ", "𩸽", "塚", "逢"]
licence_text = st.lists(st.one_of(st.sampled_from(JIS), st.sampled_from(OTHERS)), min_size=1, max_size=300).map("".join)


@st.composite
def licence_personas(draw):
    return Persona(
        card="licence",
        name=draw(licence_text),
        kana=draw(st.one_of(st.none(), st.text("あいうえおかきくけこさしすせそ　", min_size=1, max_size=20))),
        address=draw(licence_text),
        birth_date=draw(st.dates(date(1900, 1, 1), date(2030, 12, 31))),
        issue_date=date(2022, 1, 1),
        expiry=draw(st.dates(date(2020, 1, 1), date(2040, 12, 31))),
        licence_number="123456789012",
        reference_number="123456789012",
        commission="東京都公安委員会",
        pin1=draw(digits),
        pin2="0000",
        tries=3,
        behaviour={"read_past_end": draw(st.sampled_from(["6282", "6C", "short"])),
                   "get_response": draw(st.booleans())},
    )


def check_mynumber(reader, p: Persona):
    data = reader.read(p.pin)
    assert (data.name, data.address, data.birth_date) == (p.name, p.address, p.birth_date)
    assert data.sex == {"1": "male", "2": "female"}.get(p.sex_code, "unknown")
    assert data.gaiji == [] and data.tries_left == 3


def expected_jis(text: str) -> tuple[str, list[int]]:
    out, positions = [], []
    for ch in text:
        if jisx0208.encodable(ch):
            out.append(ch)
        else:
            positions.append(len(out))
            out.append(jisx0208.PLACEHOLDER)
    return "".join(out), positions


def check_licence(reader, p: Persona):
    data = reader.read(p.pin1)
    name, name_gaiji = expected_jis(p.name)
    address, address_gaiji = expected_jis(p.address)
    assert (data.name, data.address, data.birth_date, data.expiry) == (name, address, p.birth_date, p.expiry)
    assert data.kana == (p.kana or None)
    assert [g.index for g in data.gaiji if g.field == "name"] == name_gaiji
    assert [g.index for g in data.gaiji if g.field == "address"] == address_gaiji
    # At most seven distinct 外字 on a card; the rest are 欠字.
    assert all(g.kind in ("gaiji", "missing") for g in data.gaiji)
    assert {g.number for g in data.gaiji if g.kind == "gaiji"} <= set(range(1, 8))


@settings(max_examples=150, deadline=None)
@given(p=mynumber_personas())
def test_mynumber_round_trip_direct(p):
    slot = EmulatedSlot("property")
    slot.insert(p.build_card())
    check_mynumber(EmulatedReader(slot), p)


@settings(max_examples=80, deadline=None)
@given(p=licence_personas())
def test_licence_round_trip_direct(p):
    slot = EmulatedSlot("property")
    slot.insert(p.build_card())
    check_licence(EmulatedReader(slot), p)


@pytest.mark.pcsc
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=st.one_of(mynumber_personas(), licence_personas()))
def test_round_trip_through_pcscd_and_vpcd(pcsc_link, p):
    # One card stays on the vpcd reader; each example swaps the chip behind it. Every read
    # session still starts with a reset, as a freshly placed card would.
    pcsc_link.card = p.build_card()
    reader = CardReader(PcscTransport(VPCD_READER))
    (check_mynumber if p.card == "mynumber" else check_licence)(reader, p)


@pytest.fixture(scope="module")
def pcsc_link(pcsc_stack):
    link = pcsc_stack.insert("mynumber_yamada.toml")
    yield link
    pcsc_stack.remove()
