"""A person's exchange log as an A4 PDF to hand to them (やりとり履歴の交付), in Japanese.

Set with ReportLab in the IPAex fonts. Texts come from the counter's catalogue (English
msgids), rendered with the Japanese translation by the caller (`force_locale("ja")`).
"""
from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from core.clock import in_japan
from core.errors import MadoguchiError

FONT_CANDIDATES = {
    "IPAexGothic": ["/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
                    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"],
    "IPAexMincho": ["/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf",
                    "/usr/share/fonts/truetype/fonts-japanese-mincho.ttf"],
}


class FontMissing(MadoguchiError):
    code = "font_missing"


@cache
def _font_file(family: str) -> str:
    for candidate in FONT_CANDIDATES[family]:
        if Path(candidate).exists():
            return candidate
    try:  # elsewhere (another distribution): ask fontconfig
        found = subprocess.run(["fc-match", "-f", "%{file}", family], capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found and Path(found).exists() and "ipaex" in found.lower():
        return found
    raise FontMissing(f"font {family} not found (install fonts-ipaexfont)")


@cache
def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    for family in FONT_CANDIDATES:
        pdfmetrics.registerFont(TTFont(family, _font_file(family)))


@dataclass
class LogPage:
    """What goes on the page; every text already in Japanese."""
    title: str
    person_lines: list[tuple[str, str]]      # (label, value): name, birth date
    issued_line: str
    intro: str
    headers: list[str]
    rows: list[list[str]]
    empty_text: str
    footer_note: str
    page_label: Callable[[int], str]


def render(page: LogPage) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_fonts()
    body = ParagraphStyle("body", fontName="IPAexMincho", fontSize=10, leading=15, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=12)
    cell = ParagraphStyle("cell", parent=body, fontName="IPAexGothic", fontSize=8.5, leading=11.5)
    head = ParagraphStyle("head", parent=cell, textColor=colors.white)
    title = ParagraphStyle("title", fontName="IPAexGothic", fontSize=17, leading=24, spaceAfter=4 * mm)

    def esc(text: Any) -> str:
        return (str(text or "")).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=20 * mm, title=page.title, author="madoguchi", subject=page.title)
    story: list = [Paragraph(esc(page.title), title)]
    person = Table([[Paragraph(esc(k), cell), Paragraph(esc(v), body)] for k, v in page.person_lines],
                   colWidths=[28 * mm, 100 * mm], hAlign="LEFT")
    person.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.5, colors.grey),
                                ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [person, Spacer(1, 3 * mm), Paragraph(esc(page.issued_line), small), Spacer(1, 3 * mm),
              Paragraph(esc(page.intro), body), Spacer(1, 4 * mm)]
    widths = [30 * mm, 26 * mm, 34 * mm, 50 * mm, 18 * mm, 16 * mm]
    data = [[Paragraph(esc(h), head) for h in page.headers]]
    data += [[Paragraph(esc(c), cell) for c in row] for row in page.rows]
    if not page.rows:
        data.append([Paragraph(esc(page.empty_text), cell)] + [""] * (len(page.headers) - 1))
    table = Table(data, colWidths=widths, repeatRows=1)
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#00118f")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#767676")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f2f2f2")]),
    ]
    if not page.rows:
        style.append(("SPAN", (0, 1), (-1, 1)))
    table.setStyle(TableStyle(style))
    story += [table, Spacer(1, 5 * mm), Paragraph(esc(page.footer_note), small)]

    def decorate(canvas, document):
        canvas.saveState()
        canvas.setFont("IPAexGothic", 8)
        canvas.setFillColor(colors.HexColor("#4d4d4d"))
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, page.page_label(document.page))
        canvas.drawString(18 * mm, 10 * mm, page.title)
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()


def japanese_datetime(value: str | datetime) -> str:
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = in_japan(dt)
    return local.strftime("%Y年%m月%d日 %H:%M")


def japanese_date(d: date) -> str:
    from core.japanese import format_wareki
    return f"{format_wareki(d)}（{d.year}年）"
