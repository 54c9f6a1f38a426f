"""Colours a city chooses, kept readable: WCAG 2 contrast, and the text colour for a background.

Text needs 4.5:1 against its background (WCAG 2.x, 1.4.3 AA). A site's colour that gives
less is used for backgrounds and borders only; text on it is black or white, whichever reads better.
"""
from __future__ import annotations

TEXT_CONTRAST = 4.5
WHITE = "#ffffff"
BLACK = "#000000"


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(v))):02x}" for v in rgb)


def luminance(colour: str) -> float:
    """Relative luminance of "#rrggbb" (WCAG 2)."""
    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: str) -> str:
    """White or black: the text colour that reads better on `background` (always ≥ 4.5:1)."""
    return WHITE if contrast(WHITE, background) >= contrast(BLACK, background) else BLACK


def mix(colour: str, other: str, share: float) -> str:
    """`colour` with `share` (0..1) of `other` mixed in."""
    (r1, g1, b1), (r2, g2, b2) = _rgb(colour), _rgb(other)
    return _hex((r1 + (r2 - r1) * share, g1 + (g2 - g1) * share, b1 + (b2 - b1) * share))


def readable_on(colour: str, background: str, ratio: float = TEXT_CONTRAST) -> str:
    """`colour` as text on `background`: itself when it reads, else darkened (or lightened on a
    dark background) step by step until it does; black or white at the end."""
    towards = BLACK if luminance(background) > 0.18 else WHITE
    for step in range(21):
        candidate = mix(colour, towards, step / 20)
        if contrast(candidate, background) >= ratio:
            return candidate
    return towards
