"""Finding a person by name as a clerk types it: 高崎 finds 髙﨑 and the reverse, and a kana
reading finds the name it reads.

Variant characters (異体字) are folded through Unicode's own table, Unihan_Variants.txt
(Debian's `unicode-data`): characters linked as semantic variants (kSemanticVariant, e.g.
髙/高, 﨑/崎), Z-variants (kZVariant) or spoofing variants (kSpoofingVariant, e.g. 𠮷/吉)
fall into one class, keyed by its smallest member; NFKC first takes the compatibility
ideographs to their unified characters. The table is read once per process (a few tenths of
a second) and kept as data in memory. Without the file the search still matches exactly and
says so once in the log. Folding is for matching only: names are stored and printed exactly
as written.

Kana fold hiragana to katakana, half width to full width, and small kana and the long-vowel
mark are kept (ササキ ≠ サキ). Spaces never count.
"""
from __future__ import annotations

import bz2
import io
import logging
import unicodedata
import zipfile
from functools import cache
from pathlib import Path

from core.japanese import to_katakana

log = logging.getLogger("madoguchi.names")

UNIHAN_CANDIDATES = (
    Path("/usr/share/unicode/Unihan_Variants.txt.bz2"),   # Debian's unicode-data
    Path("/usr/share/unicode/Unihan_Variants.txt"),
    Path("/usr/share/unicode/Unihan.zip"),
)
# Which links of the table make two characters one for a name search. Not the simplified/
# traditional pairs: those fold distinct Chinese characters together (髮, 發 → 发).
VARIANT_KINDS = ("kSemanticVariant", "kZVariant", "kSpoofingVariant")


def _variant_lines() -> list[str] | None:
    for path in UNIHAN_CANDIDATES:
        try:
            if path.suffix == ".bz2":
                return bz2.decompress(path.read_bytes()).decode("utf-8").splitlines()
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as z:
                    return io.TextIOWrapper(z.open("Unihan_Variants.txt"), "utf-8").read().splitlines()
            return path.read_text("utf-8").splitlines()
        except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, EOFError, ValueError):
            continue
    return None


def _code_point(text: str) -> str:
    return chr(int(text.split("<")[0][2:], 16))   # "U+9AD8<kFenn" → 高


def parse_variants(lines: list[str]) -> dict[str, str]:
    """{character: the key of its variant class} for every character the table links."""
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.get(c, c) != c:
            parent[c] = parent.get(parent[c], parent[c])
            c = parent[c]
        return c

    for line in lines:
        if not line.startswith("U+"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in VARIANT_KINDS:
            continue
        a = _code_point(parts[0])
        for value in parts[2].split():
            b = _code_point(value)
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {c: root(c) for c in parent}


@cache
def variant_map() -> dict[str, str]:
    lines = _variant_lines()
    if lines is None:
        log.warning("Unihan_Variants.txt not found (Debian package unicode-data): the person search "
                    "matches variant characters (髙/高) only exactly")
        return {}
    return parse_variants(lines)


def fold_variants(text: str) -> str:
    """The text with each character replaced by its variant class's key (for matching only)."""
    table = variant_map()
    s = unicodedata.normalize("NFKC", text or "")
    return "".join(table.get(c, c) for c in s)


def name_key(name: str | None) -> str:
    """A name as the search compares it: variants folded, kana as katakana, no spaces."""
    s = to_katakana(unicodedata.normalize("NFKC", name or ""))
    return "".join(fold_variants(s).split())


def is_kana_reading(text: str) -> bool:
    """Whether the clerk typed a reading (kana only) rather than the name itself."""
    s = "".join(to_katakana(text or "").split())
    return bool(s) and all("\u30a0" <= c <= "\u30ff" for c in s)
