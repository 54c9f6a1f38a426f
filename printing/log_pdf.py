"""A person's exchange log as an A4 PDF to hand to them (やりとり履歴の交付), in Japanese.

Set with ReportLab in the IPAex fonts. The caller gives every text already in Japanese
(`web.exchange_words.log_page`: the counter's and the kiosk's printed log are the same page).
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core.clock import in_japan


def _register_fonts() -> None:
    """The page's fonts (printing.fonts finds and registers them; FontMissing without them)."""
    from printing.fonts import font
    for family in ("IPAexMincho", "IPAexGothic", "IPAmjMincho"):
        font(family)


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
    widths: list[float] | None = None        # the columns' shares of the width (default: equal)
    landscape: bool = False


def render(page: LogPage) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_fonts()
    body = ParagraphStyle("body", fontName="IPAexMincho", fontSize=10, leading=15, wordWrap="CJK")
    # The person's name as written (𠮷, 髙, 﨑): IPAmj明朝 has the MJ characters IPAex lacks.
    name_style = ParagraphStyle("name", parent=body, fontName="IPAmjMincho")
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=12)
    cell = ParagraphStyle("cell", parent=body, fontName="IPAexGothic", fontSize=8.5, leading=11.5)
    head = ParagraphStyle("head", parent=cell, textColor=colors.white)
    title = ParagraphStyle("title", fontName="IPAexGothic", fontSize=17, leading=24, spaceAfter=4 * mm)

    def esc(text: Any) -> str:
        return (str(text or "")).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    size = landscape(A4) if page.landscape else A4
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=size, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=20 * mm, title=page.title, author="madoguchi", subject=page.title)
    story: list = [Paragraph(esc(page.title), title)]
    person = Table([[Paragraph(esc(k), cell), Paragraph(esc(v), name_style if i == 0 else body)]
                    for i, (k, v) in enumerate(page.person_lines)],
                   colWidths=[28 * mm, 100 * mm], hAlign="LEFT")
    person.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.5, colors.grey),
                                ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [person, Spacer(1, 3 * mm), Paragraph(esc(page.issued_line), small), Spacer(1, 3 * mm),
              Paragraph(esc(page.intro), body), Spacer(1, 4 * mm)]
    shares = page.widths or [1.0] * len(page.headers)
    widths = [doc.width * share / sum(shares) for share in shares]
    data: list[list[Any]] = [[Paragraph(esc(h), head) for h in page.headers]]
    data += [[Paragraph(esc(c), cell) for c in row] for row in page.rows]
    if not page.rows:
        data.append([Paragraph(esc(page.empty_text), cell)] + [""] * (len(page.headers) - 1))
    table = Table(data, colWidths=widths, repeatRows=1)
    style: list[Any] = [
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
        canvas.drawRightString(size[0] - 18 * mm, 10 * mm, page.page_label(document.page))
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
