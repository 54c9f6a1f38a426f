"""Kanji candidates for kana typed on the kiosk's on-screen keyboard, from Debian's SKK
dictionaries (skkdic, skkdic-extra): reading (hiragana) → the words written with it.

Each kind of field reads its own dictionaries first: a name SKK-JISYO.jinmei (personal
names), the surnames and 人名用 forms of SKK-JISYO.JIS3_4 (JIS X 0213 level 3/4: 﨑, 濵…),
then SKK-JISYO.L; an address SKK-JISYO.geo then L; other text L alone. After each candidate
of a name or an address come the same word's 異体字 (髙橋 after 高橋, 𠮷 after 吉), from
SKK-JISYO.itaiji.JIS3_4 and the package's kanji_variants.txt. A candidate some print font
cannot draw is never offered: the form could not print it.

The dictionaries are read once per process (about a second: `madoguchi serve` starts it in
a background thread, so the first key press does not wait); a lookup is a few dictionary
hits. Framework-free: the kiosk's route (kiosk/views.py) is the only caller.
"""
from __future__ import annotations

import bisect
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("madoguchi.kiosk")

SKK_FOLDER = Path("/usr/share/skk")
VARIANTS_FILE = Path(__file__).with_name("kanji_variants.txt")
MAX_READING = 32         # kana: longer than any name or address word
LIMIT = 20               # candidates in the bar
MAX_VARIANTS = 4         # 異体字 spellings after one candidate
MAX_COMPLETIONS = 60     # readings looked at that start with what was typed

# An annotation of a name: 姓 or 名 (alone, as in "名,姓"), or 人名 (人名, 人名用漢字); not 中国地名.
NAME_NOTE = re.compile(r"(?:^|[,、\s])[姓名](?:$|[,、\s])|人名")
# Dictionary files (under SKK_FOLDER): name → (file, the annotation a candidate must have to be
# read, or None for every candidate). JIS3_4 is mostly rare characters read on'yomi: only its
# surnames, given names and 人名用漢字 are names.
SOURCES: dict[str, tuple[str, re.Pattern | None]] = {
    "jinmei": ("SKK-JISYO.jinmei", None),
    "jis3_4_names": ("SKK-JISYO.JIS3_4", NAME_NOTE),
    "geo": ("SKK-JISYO.geo", None),
    "L": ("SKK-JISYO.L", None),
}
KINDS: dict[str, tuple[str, ...]] = {
    "name": ("jinmei", "jis3_4_names", "L"),
    "address": ("geo", "L"),
    "text": ("L",),
}
VARIANT_KINDS = ("name",)
# SKK's JIS X 0213 異体字 table: only its 人名用漢字 forms (the rest maps 部 to 郶 and the like).
SKK_VARIANTS = ("SKK-JISYO.itaiji.JIS3_4", "人名用漢字")

# Text fields that hold a person's name (besides the fields asked as 姓 and 名).
NAME_FIELDS = {"head_of_household", "hittousha", "koseki_hittosha", "tsusho", "kodomo_insured_person"}

_READING_RE = re.compile(r"[\u3041-\u3096\u30fc]+")
_ASCII_RE = re.compile(r"[\x00-\x7f]")


@dataclass(frozen=True)
class Candidate:
    text: str       # what replaces the kana
    reading: str    # its reading, in hiragana (the フリガナ)
    covers: int     # how many of the typed kana it replaces (from the first)

    def as_json(self) -> dict:
        return {"text": self.text, "reading": self.reading, "covers": self.covers}


def kind_for_field(name: str, field_type: str, has_parts: bool = False) -> str | None:
    """The candidates a question's input gets: name, address, text, or None (no kanji)."""
    if field_type == "address" or name.endswith("_city"):
        return "address"
    if field_type != "text":
        return None
    if has_parts or name in NAME_FIELDS or (name.endswith("_name") and name != "bank_name"):
        return "name"
    return "text"


def as_reading(typed: str) -> str | None:
    """Kana as typed (katakana from the keyboard, or hiragana) as a hiragana reading; None when
    it holds anything else or is too long to be a word."""
    text = unicodedata.normalize("NFKC", typed or "")
    reading = "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in text)
    if not reading or len(reading) > MAX_READING or not _READING_RE.fullmatch(reading):
        return None
    return reading


def parse_skk(text: str, needs: re.Pattern | None = None) -> dict[str, tuple[str, ...]]:
    """An SKK dictionary's okuri-nasi entries: reading → candidates, annotations (`;…`) cut.
    Okuri-ari entries (a reading ending in a Latin letter: 書k /書/), prefixes and suffixes
    (お>, >たち), Lisp expressions and plain-ASCII candidates are left out."""
    out: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if not line or line[0] == ";":
            continue
        reading, _, rest = line.partition(" /")
        if not _READING_RE.fullmatch(reading):
            continue
        words = []
        for item in rest.split("/"):
            word, _, note = item.partition(";")
            if not word or word[0] == "[" or word.startswith("(") or not _ASCII_RE.sub("", word):
                continue
            if needs is not None and not needs.search(note):
                continue
            word = unicodedata.normalize("NFC", word)
            if word not in words:
                words.append(word)
        if words:
            out[reading] = tuple(words) if reading not in out else tuple(dict.fromkeys(out[reading] + tuple(words)))
    return out


def parse_variants(text: str, skk_needs: str | None = None) -> dict[str, list[str]]:
    """Character → its other forms: lines of one group each (kanji_variants.txt), or, given
    the note its variants need, SKK's itaiji table (character /variant;note/…/)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line[0] in ";#":
            continue
        if skk_needs is not None:
            key, _, rest = line.partition(" /")
            group = [key] + [word for word, _, note in (item.partition(";") for item in rest.split("/"))
                             if word and skk_needs in note]
        else:
            group = line.split()
        group = [unicodedata.normalize("NFC", c) for c in group if len(c) == 1]
        for c in group:
            if not unicodedata.category(c).startswith("Lo") or "\u3040" <= c <= "\u30ff":
                continue
            for other in group:
                if other != c and other not in out.setdefault(c, []):
                    out[c].append(other)
    return out


def read_file(path: Path) -> str:
    """An SKK file: Debian ships them in EUC-JP (EUC-JIS-2004 for JIS3_4), a few in UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("euc_jis_2004", errors="replace")


class Dictionary:
    """The readings of every kind, read from `folder` on first use (or by `start_loading`)."""

    def __init__(self, folder: Path = SKK_FOLDER, variants_file: Path = VARIANTS_FILE):
        self.folder = folder
        self.variants_file = variants_file
        self._sources: dict[str, dict[str, tuple[str, ...]]] = {}
        self._readings: dict[str, list[str]] = {}     # kind → sorted readings, for prefixes
        self._variants: dict[str, list[str]] = {}
        self._printable: dict[str, bool] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self.load_seconds = 0.0

    # --- loading -------------------------------------------------------------------------
    def start_loading(self) -> threading.Thread:
        t = threading.Thread(target=self.load, name="kanji-dictionary", daemon=True)
        t.start()
        return t

    def load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            started = time.perf_counter()
            sources = {}
            for name, (filename, needs) in SOURCES.items():
                path = self.folder / filename
                if path.is_file():
                    sources[name] = parse_skk(read_file(path), needs)
                else:
                    log.warning("kanji candidates: %s is missing (Debian package skkdic / skkdic-extra)", path)
                    sources[name] = {}
            variants = parse_variants(self.variants_file.read_text(encoding="utf-8"))
            skk_variants, skk_needs = self.folder / SKK_VARIANTS[0], SKK_VARIANTS[1]
            if skk_variants.is_file():
                for c, others in parse_variants(read_file(skk_variants), skk_needs).items():
                    variants.setdefault(c, []).extend(o for o in others if o not in variants[c])
            self._sources = sources
            self._variants = variants
            self._readings = {kind: sorted(set().union(*(sources[s] for s in names)))
                              for kind, names in KINDS.items()}
            # The print fonts answer whether a candidate prints: loaded now, not at the first key.
            from printing.errors import FontMissing
            from printing.fonts import preload
            try:
                preload()
            except FontMissing as e:
                log.warning("kanji candidates: %s", e)
            self.load_seconds = time.perf_counter() - started
            self._loaded = True

    # --- lookups -------------------------------------------------------------------------
    def candidates(self, reading: str, kind: str, limit: int = LIMIT) -> list[Candidate]:
        """Candidates for kana being typed (hiragana): the words read exactly so first, then
        the longer readings it begins (たかは → 高橋), then, when nothing is read so, the words
        of its longest beginning that is (やまだたろう → 山田, which replaces やまだ only);
        last the hiragana itself (a name written in hiragana)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.load()
        out: list[Candidate] = []
        seen: set[str] = set()

        def add(words, word_reading: str, covers: int, variants: bool = True) -> None:
            for word in words:
                for spelling in [word, *(self._variant_spellings(word, kind) if variants else ())]:
                    if len(out) >= limit - 1:
                        return
                    if spelling not in seen and self._can_print(spelling):
                        seen.add(spelling)
                        out.append(Candidate(spelling, word_reading, covers))

        exact = self._words(reading, kind)
        add(exact, reading, len(reading))
        if len(reading) >= 2:
            for longer in self._completions(reading, kind):
                add(self._words(longer, kind), longer, len(reading), variants=False)
        if not exact:
            for end in range(len(reading) - 1, 0, -1):
                words = self._words(reading[:end], kind)
                if words:
                    add(words, reading[:end], end)
                    break
        if reading not in seen:
            out.append(Candidate(reading, reading, len(reading)))
        return out

    def _words(self, reading: str, kind: str) -> list[str]:
        words: list[str] = []
        for source in KINDS[kind]:
            words.extend(w for w in self._sources[source].get(reading, ()) if w not in words)
        return words

    def _completions(self, prefix: str, kind: str) -> list[str]:
        readings = self._readings[kind]
        i = bisect.bisect_right(readings, prefix)
        found = []
        while i < len(readings) and readings[i].startswith(prefix) and len(found) < MAX_COMPLETIONS:
            found.append(readings[i])
            i += 1
        return sorted(found, key=len)[:8]

    def _variant_spellings(self, word: str, kind: str) -> list[str]:
        """The word with its 異体字: each one character changed, then all changed to their first."""
        if kind not in VARIANT_KINDS or len(word) > 8:
            return []
        spots = [(i, self._variants[c]) for i, c in enumerate(word) if c in self._variants]
        spellings = []
        for i, others in spots:
            spellings.extend(word[:i] + o + word[i + 1:] for o in others)
        if len(spots) > 1:
            chars = list(word)
            for i, others in spots:
                chars[i] = others[0]
            spellings.insert(1, "".join(chars))
        return spellings[:MAX_VARIANTS]

    def _can_print(self, text: str) -> bool:
        for c in text:
            ok = self._printable.get(c)
            if ok is None:
                from printing.errors import FontMissing
                from printing.fonts import first_unprintable
                try:
                    ok = first_unprintable(c) is None
                except FontMissing:
                    ok = False
                self._printable[c] = ok
            if not ok:
                return False
        return True


_shared: Dictionary | None = None
_shared_lock = threading.Lock()


def shared() -> Dictionary:
    """The process's one dictionary (it is big: every app of the process shares it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Dictionary()
        return _shared
