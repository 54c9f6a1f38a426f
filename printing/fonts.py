"""Fonts for printed forms: subset-embedded TrueType, with per-character fallback.

Each style ("mincho", "gothic") is a chain of fonts tried character by character:
IPAex明朝/ゴシック first, then IPAmj明朝 (about 60,000 glyphs: 𠮷, the MJ set, and
11,000 ideographic variation sequences), then DejaVu for Latin letters with diacritics
(Vietnamese names) that the Japanese fonts lack. A character no font has raises
MissingGlyph: a name must never print as 〓, a blank or a box.

reportlab embeds only the glyphs a document uses. Two fixes to it live here:
- its subsetter copied the whole `glyf` table for every subset (40 MB for IPAmj), which
  made each render take tens of milliseconds; `_GlyfTable` slices without copying;
- its ToUnicode map wrote characters outside the BMP (𠮷, U+20BB7) as 5 hex digits, so
  copy-paste and text extraction lost them; `_to_unicode_cmap` writes UTF-16 as the PDF
  specification requires, and maps variation-sequence glyphs back to base + selector.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace

from printing.errors import FontMissing, MissingGlyph


@dataclass(frozen=True)
class FontFile:
    name: str                 # registered reportlab name (also the PDF BaseFont after the subset tag)
    family: str               # fontconfig family, to find the file on other systems
    candidates: tuple[str, ...]
    required: bool = True


FONT_FILES: dict[str, FontFile] = {f.name: f for f in (
    FontFile("IPAexMincho", "IPAexMincho", (
        "/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf",
        "/usr/share/fonts/truetype/ipaexfont-mincho/ipaexm.ttf",
        "/usr/share/fonts/ipaex-mincho/ipaexm.ttf")),
    FontFile("IPAexGothic", "IPAexGothic", (
        "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
        "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
        "/usr/share/fonts/ipaex-gothic/ipaexg.ttf")),
    FontFile("IPAmjMincho", "IPAmjMincho", (
        "/usr/share/fonts/truetype/ipamj/ipamjm.ttf",
        "/usr/share/fonts/opentype/ipamj/ipamjm.ttf")),
    FontFile("DejaVuSerif", "DejaVu Serif", (
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",), required=False),
    FontFile("DejaVuSans", "DejaVu Sans", (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",), required=False),
)}

STYLES: dict[str, tuple[str, ...]] = {
    "mincho": ("IPAexMincho", "IPAmjMincho", "DejaVuSerif"),
    "gothic": ("IPAexGothic", "IPAmjMincho", "DejaVuSans"),
}
IVS_FONT = "IPAmjMincho"

# Variation selectors: FE00–FE0F (standardised) are dropped, the base character prints in
# its default form; E0100–E01EF (ideographic) must name a glyph IPAmj明朝 has.
_SVS = range(0xFE00, 0xFE10)
_IVS = range(0xE0100, 0xE01F0)
# Characters that take no room and draw nothing; dropped before font lookup.
_INVISIBLE = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF}

# Code points of Supplementary Private Use Area-B stand for variation-sequence glyphs
# inside the PDF; the ToUnicode map turns them back into base + selector.
_ALIAS_BASE = 0x100000
_aliases: dict[tuple[int, int], int] = {}
_alias_text: dict[int, str] = {}

_lock = threading.RLock()
_loaded: dict[str, TTFont | None] = {}
_ivs_table: dict[tuple[int, int], int | None] | None = None


class _GlyfTable:
    """The glyf table as slices of the font's bytes, without copying the whole table."""

    __slots__ = ("_view",)

    def __init__(self, view: memoryview):
        self._view = view

    def __getitem__(self, key):
        return bytes(self._view[key])


class _FastFace(TTFontFace):
    _ttf_data: bytes  # the font file, read by reportlab's TTFontParser.readFile (its stubs omit it)

    def get_table(self, tag):
        if tag == "glyf":
            pos, length = self.get_table_pos(tag)
            return _GlyfTable(memoryview(self._ttf_data)[pos:pos + length])
        return super().get_table(tag)


def _utf16_hex(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def _to_unicode_cmap(fontname, subset):
    """reportlab's ToUnicode CMap, with UTF-16 code units (the PDF spec's form)."""
    lines = [
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo", f"<< /Registry ({fontname})", f"/Ordering ({fontname})", "/Supplement 0", ">> def",
        f"/CMapName /{fontname} def", "/CMapType 2 def",
        "1 begincodespacerange", f"<00> <{len(subset) - 1:02X}>", "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *(f"<{i:02X}> <{_utf16_hex(_alias_text.get(cp) or chr(cp))}>" for i, cp in enumerate(subset)),
        "endbfchar", "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end",
    ]
    return "\n".join(lines)


ttfonts.makeToUnicodeCMap = _to_unicode_cmap


def _fc_lookup(family: str) -> str | None:
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{family}\n%{file}", family], capture_output=True,
                             text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) == 2 and family.lower() in out[0].lower():
        return out[1]
    return None


def font_path(name: str) -> Path | None:
    spec = FONT_FILES[name]
    for c in spec.candidates:
        if Path(c).is_file():
            return Path(c)
    found = _fc_lookup(spec.family)
    return Path(found) if found else None


def font(name: str) -> TTFont | None:
    """The registered reportlab font, loaded on first use (None if an optional font is absent)."""
    f = _loaded.get(name)
    if f is not None or name in _loaded:
        return f
    with _lock:
        if name in _loaded:
            return _loaded[name]
        path = font_path(name)
        if path is None:
            if FONT_FILES[name].required:
                raise FontMissing(f"font {name} not found (install fonts-ipaexfont and fonts-ipamj-mincho)")
            _loaded[name] = None
            return None
        # asciiReadable=False: otherwise every font embeds all 95 ASCII glyphs, used or not
        f = TTFont(name, str(path), asciiReadable=False)
        f.face.__class__ = _FastFace
        pdfmetrics.registerFont(f)
        _loaded[name] = f
        return f


def has_glyph(name: str, cp: int) -> bool:
    f = font(name)
    return f is not None and f.face.charToGlyph.get(cp, 0) != 0


def _ivs_glyphs() -> dict[tuple[int, int], int | None]:
    """(base, selector) → glyph id in IPAmj明朝, or None for "the default glyph"."""
    global _ivs_table
    if _ivs_table is None:
        with _lock:
            if _ivs_table is None:
                from fontTools.ttLib import TTFont as FTFont

                table: dict[tuple[int, int], int | None] = {}
                path = font_path(IVS_FONT)
                if path is not None:
                    ft = FTFont(str(path), lazy=True)
                    for sub in ft["cmap"].tables:
                        if sub.format == 14:
                            for vs, pairs in sub.uvsDict.items():
                                for base, glyph_name in pairs:
                                    table[(base, vs)] = None if glyph_name is None else ft.getGlyphID(glyph_name)
                    ft.close()
                _ivs_table = table
    return _ivs_table


def _alias_for(base: int, vs: int) -> int | None:
    """A private code point drawing the variant glyph of base+vs in IPAmj明朝 (None: default glyph)."""
    key = (base, vs)
    if key in _aliases:
        return _aliases[key]
    gid = _ivs_glyphs().get(key, -1)
    if gid == -1:
        raise KeyError(key)
    if gid is None:
        return None
    with _lock:
        if key not in _aliases:
            ivs_font = font(IVS_FONT)
            assert ivs_font is not None  # IVS_FONT is required: font() raises FontMissing, never None
            face = ivs_font.face
            alias = _ALIAS_BASE + len(_aliases)
            face.charToGlyph[alias] = gid
            face.charWidths[alias] = face.charWidths.get(base, 1000)
            _alias_text[alias] = chr(base) + chr(vs)
            _aliases[key] = alias
    return _aliases[key]


def glyphs(text: str, style: str, field: str) -> list[tuple[str, str]]:
    """(font name, character) for each character that prints, in the first font that has it.

    Raises MissingGlyph naming the character and the field when no font of the style has it.
    A variation sequence comes back as one private character of IPAmj明朝 (see _alias_for).
    """
    chain = STYLES[style]
    text = unicodedata.normalize("NFC", text)
    out: list[tuple[str, str]] = []
    chars = list(text)
    i = 0
    while i < len(chars):
        ch = chars[i]
        cp = ord(ch)
        nxt = ord(chars[i + 1]) if i + 1 < len(chars) else None
        i += 1
        if cp in _INVISIBLE or cp in _SVS:
            continue
        if cp in _IVS:  # a selector with nothing before it
            continue
        if nxt is not None and nxt in _IVS:
            i += 1
            try:
                alias = _alias_for(cp, nxt)
            except KeyError:
                raise MissingGlyph(ch + chr(nxt), field) from None
            if alias is not None:
                out.append((IVS_FONT, chr(alias)))
                continue
            if has_glyph(IVS_FONT, cp):  # the sequence names the default glyph
                out.append((IVS_FONT, ch))
                continue
        for name in chain:
            if has_glyph(name, cp):
                out.append((name, ch))
                break
        else:
            raise MissingGlyph(ch, field)
    return out


def group(glyph_list: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive characters of the same font as one run: [(font name, text), …]."""
    out: list[tuple[str, str]] = []
    for name, ch in glyph_list:
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1] + ch)
        else:
            out.append((name, ch))
    return out


def runs(text: str, style: str, field: str) -> list[tuple[str, str]]:
    return group(glyphs(text, style, field))


def char_widths(glyph_list: list[tuple[str, str]]) -> list[float]:
    """Advance width of each character at 1 pt."""
    return [pdfmetrics.stringWidth(ch, name, 1.0) for name, ch in glyph_list]


def width(run_list: list[tuple[str, str]], size: float) -> float:
    """Advance width in points of the runs at the given size."""
    return sum(pdfmetrics.stringWidth(t, name, size) for name, t in run_list)


def preload(names=("IPAexMincho", "IPAexGothic", "IPAmjMincho")) -> None:
    """Load fonts ahead of the first print (IPAmj明朝 takes a few hundred milliseconds)."""
    for n in names:
        font(n)


def initial_font() -> str:
    """A canvas's first font: reportlab's default, Helvetica, is one of the 14 standard fonts a
    PDF names without embedding, which an archive (PDF/A) or a print shop refuses. Ours is
    registered, so every font a page names is embedded."""
    font("IPAexMincho")
    return "IPAexMincho"


def first_unprintable(text: str) -> str | None:
    """The first character (or variation sequence) of `text` that some print style cannot
    draw, or None when every style can print all of it. Answers are checked with this when
    they are typed, so a form never fails at the printer for a character of the visitor's."""
    for style in STYLES:
        try:
            glyphs(text, style, "")
        except MissingGlyph as e:
            return e.character
    return None
