"""A card that is neither a My Number card nor a licence (say, a transport IC card).

It has an MF and one application of its own; every AID we look for answers 6A82.
"""
from __future__ import annotations

from hardware.cards.emulator.engine import DF, EF, Behaviour, Card

ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")


class OtherCard(Card):
    kind = "other"


def build(persona) -> OtherCard:
    mf = DF("MF", fid=0x3F00)
    app = mf.add_df(DF("app", aid=bytes.fromhex("A000000003101001")))
    app.add(EF(0x0001, b"\x00" * 32))
    return OtherCard(mf, ATR, Behaviour(**persona.behaviour))
