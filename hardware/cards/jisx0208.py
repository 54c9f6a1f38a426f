"""JIS X 0208 text as the driver's licence stores it: two raw row/cell bytes per character.

Decoding OR-s each byte with 0x80 and reads the pair as EUC-JP. A handful of JIS X 0208
code points have two Unicode mappings in use; we return the ones Japanese Windows and the
My Number card's UTF-8 text use (e.g. 0x215D → U+FF0D "－", as in 「１２－７－２０２」),
so the same address read from either card compares equal.

外字 (characters outside JIS X 0208) appear as FF F1 … FF F7 (外字1–7, glyphs in DF1/EF03)
and FF FA (欠字, no glyph). They are never dropped: each becomes PLACEHOLDER in the text
and a `Gaiji` entry saying where it is, so the clerk sees that a character is missing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

# 〓 (geta mark), the Japanese typesetting sign for "this character could not be set".
PLACEHOLDER = "\u3013"

GAIJI_FIRST, GAIJI_LAST, MISSING = 0xF1, 0xF7, 0xFA

# EUC-JP's mapping → the mapping used by Windows and by the My Number card.
_TO_COMMON = str.maketrans({
    "\u2212": "\uff0d",  # MINUS SIGN → FULLWIDTH HYPHEN-MINUS
    "\u301c": "\uff5e",  # WAVE DASH → FULLWIDTH TILDE
    "\u2016": "\u2225",  # DOUBLE VERTICAL LINE → PARALLEL TO
    "\u00a2": "\uffe0",  # ¢ → ￠
    "\u00a3": "\uffe1",  # £ → ￡
    "\u00ac": "\uffe2",  # ¬ → ￢
})
_TO_EUC = str.maketrans({v: k for k, v in
                         {"\u2212": "\uff0d", "\u301c": "\uff5e", "\u2016": "\u2225", "\u00a2": "\uffe0",
                          "\u00a3": "\uffe1", "\u00ac": "\uffe2", "\u2015": "\u2014"}.items()})


@dataclass(frozen=True)
class Gaiji:
    """One character the card could not give as text."""

    field: str  # "name", "address", …
    index: int  # position of the placeholder in the decoded text
    kind: str  # "gaiji" (外字 with a glyph on the card) | "missing" (欠字) | "undecodable"
    number: int | None = None  # 外字 1–7
    placeholder: str = PLACEHOLDER

    @property
    def label(self) -> str:
        """What a clerk reads next to the placeholder, e.g. 外字1 or 欠字."""
        if self.kind == "gaiji":
            return f"外字{self.number}"
        if self.kind == "missing":
            return "欠字"
        return "判読不能"

    def as_dict(self) -> dict:
        return {"field": self.field, "index": self.index, "kind": self.kind, "number": self.number,
                "label": self.label, "placeholder": self.placeholder}


def decode(data: bytes, field: str) -> tuple[str, list[Gaiji]]:
    """Decode JIS X 0208 row/cell pairs; returns the text and its 外字 placeholders."""
    chars: list[str] = []
    gaiji: list[Gaiji] = []
    if len(data) % 2:
        log.warning("JIS X 0208 field %s has an odd length %d; last byte ignored", field, len(data))
        data = data[:-1]
    for i in range(0, len(data), 2):
        hi, lo = data[i], data[i + 1]
        if hi == 0xFF and GAIJI_FIRST <= lo <= GAIJI_LAST:
            gaiji.append(Gaiji(field, len(chars), "gaiji", lo - GAIJI_FIRST + 1))
            chars.append(PLACEHOLDER)
            continue
        if hi == 0xFF and lo == MISSING:
            gaiji.append(Gaiji(field, len(chars), "missing"))
            chars.append(PLACEHOLDER)
            continue
        try:
            if not (0x21 <= hi <= 0x7E and 0x21 <= lo <= 0x7E):
                raise ValueError
            chars.append(bytes([hi | 0x80, lo | 0x80]).decode("euc_jp").translate(_TO_COMMON))
        except (UnicodeDecodeError, ValueError):
            # Loud but harmless: log the code (not personal), keep a visible placeholder.
            log.warning("JIS X 0208 field %s: undecodable code %02X%02X at character %d", field, hi, lo, len(chars))
            gaiji.append(Gaiji(field, len(chars), "undecodable"))
            chars.append(PLACEHOLDER)
    return "".join(chars), gaiji


def encode_char(ch: str) -> bytes | None:
    """Two JIS X 0208 bytes for `ch`, or None when JIS X 0208 has no such character."""
    try:
        euc = ch.translate(_TO_EUC).encode("euc_jp")
    except UnicodeEncodeError:
        return None
    if len(euc) != 2 or not (0xA1 <= euc[0] <= 0xFE and 0xA1 <= euc[1] <= 0xFE):
        return None  # half-width kana (8E xx) or JIS X 0212 (8F xx xx) are not JIS X 0208
    return bytes([euc[0] & 0x7F, euc[1] & 0x7F])


def encodable(ch: str) -> bool:
    return encode_char(ch) is not None
