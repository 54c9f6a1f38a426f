"""Drawing on a reportlab canvas in millimetres from the top-left corner, as layouts are written.

Text goes through `printing.fonts` (per-character fallback, MissingGlyph) and fits its box:
a single line shrinks, then narrows (長体), and a multi-line text wraps with 禁則 before it
shrinks. A value that still does not fit raises MalformedValue rather than print cut off.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass

from reportlab.pdfgen.canvas import Canvas

from printing import fonts
from printing.errors import MalformedValue

MM = 72 / 25.4          # points per millimetre
PT = 25.4 / 72          # millimetres per point
# Where a line's glyphs sit relative to its em box: ideographs span about −0.12…0.88 em,
# so a baseline 0.35 em below the box's middle centres them.
CENTRE_TO_BASELINE = 0.35
# 行頭禁則: characters that may not start a line; 行末禁則: characters that may not end one.
NO_LINE_START = set("、。，．,.）)」』】〕〉》］]｝}ー―‐・：:；;？?！!"
                    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々ゝゞヽヾ")
NO_LINE_END = set("（(「『【〔〈《［[｛{")
_WORD_RE = re.compile(r"[0-9A-Za-z\u00C0-\u024F\u1E00-\u1EFF'’\-]+ ?|.", re.S)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


class Pen:
    def __init__(self, canvas: Canvas, page_height_mm: float):
        self.c = canvas
        self.page_h = page_height_mm

    # ---------------------------------------------------------------- geometry
    def _p(self, x: float, y: float) -> tuple[float, float]:
        return x * MM, (self.page_h - y) * MM

    @contextmanager
    def _stroke(self, width: float, dash=None):
        """The canvas with a line width and dash pattern (a number, or on/off lengths) set for one shape."""
        c = self.c
        c.saveState()
        try:
            c.setLineWidth(width)
            if dash:
                c.setDash(*dash) if isinstance(dash, (list, tuple)) else c.setDash(dash)
            yield c
        finally:
            c.restoreState()

    def rect(self, x, y, w, h, *, width=0.6, fill: float | None = None, stroke=True, dash=None, radius=0.0):
        with self._stroke(width, dash) as c:
            if fill is not None:
                c.setFillGray(fill)
            X, Y = self._p(x, y + h)
            if radius:
                c.roundRect(X, Y, w * MM, h * MM, radius * MM, stroke=1 if stroke else 0,
                            fill=1 if fill is not None else 0)
            else:
                c.rect(X, Y, w * MM, h * MM, stroke=1 if stroke else 0, fill=1 if fill is not None else 0)

    def line(self, x1, y1, x2, y2, *, width=0.6, dash=None):
        with self._stroke(width, dash) as c:
            c.line(*self._p(x1, y1), *self._p(x2, y2))

    def ellipse(self, cx, cy, rx, ry, *, width=0.9, dash=None):
        with self._stroke(width, dash) as c:
            x1, y1 = self._p(cx - rx, cy + ry)
            x2, y2 = self._p(cx + rx, cy - ry)
            c.ellipse(x1, y1, x2, y2, stroke=1, fill=0)

    def check_mark(self, x, y, size, *, width=None):
        """✓ drawn as a path (not a glyph) inside the square at (x, y) of the given size."""
        c = self.c
        c.saveState()
        c.setLineWidth(width or max(0.9, size * MM * 0.13))
        c.setLineCap(1)
        c.setLineJoin(1)
        p = c.beginPath()
        p.moveTo(*self._p(x + size * 0.16, y + size * 0.52))
        p.lineTo(*self._p(x + size * 0.42, y + size * 0.80))
        p.lineTo(*self._p(x + size * 0.88, y + size * 0.14))
        c.drawPath(p, stroke=1, fill=0)
        c.restoreState()

    def modules(self, matrix, x, y, module):
        """Dark modules of a 2-D code (rows of 0/1), one rectangle per horizontal run."""
        c = self.c
        c.saveState()
        c.setFillGray(0)
        p = c.beginPath()
        for r, row in enumerate(matrix):
            col = 0
            n = len(row)
            while col < n:
                if row[col]:
                    start = col
                    while col < n and row[col]:
                        col += 1
                    X, Y = self._p(x + start * module, y + (r + 1) * module)
                    # a hair wider than the module so neighbouring runs leave no white seams
                    p.rect(X, Y, (col - start) * module * MM + 0.05, module * MM + 0.05)
                else:
                    col += 1
        c.drawPath(p, stroke=0, fill=1)
        c.restoreState()

    # ---------------------------------------------------------------- text
    def draw_runs(self, runs, x, baseline, size, *, hscale=1.0, char_space=0.0):
        """Draw runs starting at x (mm) on the baseline (mm from the top)."""
        t = self.c.beginText()
        # Tz and Tc outlive the text object in PDF's graphics state: always set both
        t.setHorizScale(hscale * 100)
        t.setCharSpace(char_space * MM)
        cx = x
        for name, text in runs:
            t.setFont(name, size)
            t.setTextOrigin(*self._p(cx, baseline))
            t.textOut(text)
            n = len(text)
            cx += (fonts.width([(name, text)], size) + char_space * MM * n) * PT * hscale
        self.c.drawText(t)

    def text(self, text, box: Box, *, style="mincho", size=10.0, min_size=6.0, align="left",
             valign="middle", pad=1.0, min_scale=0.5, field="", char_space=0.0):
        """One line in the box: shrink to fit, then narrow; MalformedValue if it still does not fit."""
        text = re.sub(r"\s*\n\s*", " ", text)
        glyphs = fonts.glyphs(text, style, field)
        if not glyphs:
            return
        runs = fonts.group(glyphs)
        size = min(size, box.h / PT * 0.9) if box.h > 0 else size
        per_pt = sum(fonts.char_widths(glyphs))            # width at 1 pt, in points
        spacing = char_space * MM * (len(glyphs) - 1)      # letter spacing, in points
        hscale = 1.0
        if box.w > 0:
            avail = (box.w - 2 * pad) * MM - spacing
            if per_pt * size > avail:
                if avail / per_pt >= min_size:
                    size = avail / per_pt
                else:
                    size = min(size, min_size)
                    hscale = avail / (per_pt * size)
                    if hscale < min_scale:
                        raise MalformedValue(field, "too_long_to_print",
                                             f"value of field {field} is too long for its box")
        line_w = (per_pt * size * hscale + spacing) * PT
        if align == "center":
            x = box.x + (box.w - line_w) / 2
        elif align == "right":
            x = box.x + box.w - pad - line_w
        else:
            x = box.x + pad
        self.draw_runs(runs, x, self._baseline(box, size, valign, pad), size, hscale=hscale, char_space=char_space)

    def _baseline(self, box: Box, size: float, valign: str, pad: float) -> float:
        em = size * PT
        if valign == "top":
            return box.y + pad + em * 0.88
        if valign == "bottom":
            return box.y + box.h - pad - em * 0.12
        return box.y + box.h / 2 + em * CENTRE_TO_BASELINE

    def vertical_text(self, text, box: Box, *, style="gothic", size=9.0, field=""):
        """縦書き: characters stacked top to bottom, centred in the box, spread to its height."""
        glyphs = fonts.glyphs(text, style, field)
        if not glyphs:
            return
        em = size * PT
        n = len(glyphs)
        step = min(box.h / n, em * 1.6)
        top = box.y + (box.h - step * n) / 2
        for i, (name, ch) in enumerate(glyphs):
            w = fonts.width([(name, ch)], size) * PT
            self.draw_runs([(name, ch)], box.x + (box.w - w) / 2,
                           top + step * i + step / 2 + em * CENTRE_TO_BASELINE, size)

    def paragraph(self, text, box: Box, *, style="mincho", size=10.0, min_size=6.0, leading=1.25,
                  align="left", valign="top", pad=1.0, min_scale=0.6, field=""):
        """Wrapped lines in the box (hard breaks kept, 禁則 respected), shrinking until they fit."""
        paragraphs = [p.strip() for p in text.replace("\t", " ").split("\n")]
        glyph_pars = [fonts.glyphs(p, style, field) for p in paragraphs]
        widths = [fonts.char_widths(g) for g in glyph_pars]
        units = [_units("".join(ch for _, ch in g)) for g in glyph_pars]
        avail_w = box.w - 2 * pad
        avail_h = box.h - 2 * pad
        size = min(size, avail_h / PT)
        hscale = 1.0
        s = size
        while True:
            lines = []
            for g, w, u in zip(glyph_pars, widths, units, strict=True):
                lines += _wrap(g, w, u, avail_w / PT / s / hscale)
            if len(lines) * s * leading * PT - (leading - 1) * s * PT <= avail_h + 1e-6:
                break
            if s > min_size:
                s = max(min_size, s - 0.25)
                continue
            hscale -= 0.05
            if hscale < min_scale:
                raise MalformedValue(field, "too_long_to_print", f"value of field {field} is too long for its box")
        em = s * PT
        block = len(lines) * em * leading - (leading - 1) * em
        if valign == "middle":
            top = box.y + (box.h - block) / 2
        elif valign == "bottom":
            top = box.y + box.h - pad - block
        else:
            top = box.y + pad
        for i, line in enumerate(lines):
            if not line:
                continue
            line_w = sum(fonts.char_widths(line)) * s * hscale * PT
            if align == "center":
                x = box.x + (box.w - line_w) / 2
            elif align == "right":
                x = box.x + box.w - pad - line_w
            else:
                x = box.x + pad
            self.draw_runs(fonts.group(line), x, top + i * em * leading + em * 0.88, s, hscale=hscale)


def _units(text: str) -> list[int]:
    """Lengths of the unbreakable pieces of text: words of Latin letters, single CJK characters,
    with 禁則 characters joined to their neighbour."""
    pieces = _WORD_RE.findall(text)
    merged: list[str] = []
    for p in pieces:
        if merged and (p[0] in NO_LINE_START or merged[-1][-1] in NO_LINE_END):
            merged[-1] += p
        else:
            merged.append(p)
    return [len(p) for p in merged]


def _wrap(glyphs, widths, units, avail) -> list[list[tuple[str, str]]]:
    """Greedy line filling of pieces (in 1-pt widths against avail); pieces wider than a line are split."""
    lines: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []
    cur_w = 0.0
    i = 0
    for n in units:
        piece = glyphs[i:i + n]
        pw = widths[i:i + n]
        i += n
        w = sum(pw)
        # a trailing space may hang past the edge
        trail = pw[-1] if piece and piece[-1][1] == " " else 0.0
        if cur and cur_w + w - trail > avail:
            lines.append(_rstrip(cur))
            cur, cur_w = [], 0.0
        if w - trail > avail:  # a piece longer than a line: break it by character
            for g, cw in zip(piece, pw, strict=True):
                if cur and cur_w + cw > avail:
                    lines.append(_rstrip(cur))
                    cur, cur_w = [], 0.0
                cur.append(g)
                cur_w += cw
            continue
        if not cur and piece and piece[0][1] == " ":
            piece, pw = piece[1:], pw[1:]
            w = sum(pw)
        cur += piece
        cur_w += w
    lines.append(_rstrip(cur))
    return lines


def _rstrip(line):
    while line and line[-1][1] in (" ", "\u3000"):
        line = line[:-1]
    return line
