"""Paper sizes: the names a layout's `page` takes, their size in millimetres, and the media
name a print service is asked for (PWG 5101.1 self-describing names, which CUPS maps to
its queues' own sizes; B4 and B5 are the JIS sizes Japanese offices use)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    name: str
    w: float          # mm, portrait
    h: float
    media: str        # PWG media name


PAPERS: dict[str, Paper] = {p.name: p for p in (
    Paper("A4", 210.0, 297.0, "iso_a4_210x297mm"),
    Paper("A3", 297.0, 420.0, "iso_a3_297x420mm"),
    Paper("B4", 257.0, 364.0, "jis_b4_257x364mm"),
    Paper("B5", 182.0, 257.0, "jis_b5_182x257mm"),
    Paper("A5", 148.0, 210.0, "iso_a5_148x210mm"),
    Paper("Letter", 215.9, 279.4, "na_letter_8.5x11in"),
)}
TOLERANCE_MM = 1.5     # PDF writers round page sizes to points


def paper_of(w_mm: float, h_mm: float) -> Paper | None:
    """The named paper of a page of that size (either way up), or None for a custom size."""
    short, long = sorted((w_mm, h_mm))
    for p in PAPERS.values():
        if abs(p.w - short) <= TOLERANCE_MM and abs(p.h - long) <= TOLERANCE_MM:
            return p
    return None


def media_name(w_mm: float, h_mm: float) -> str:
    """The media to ask for a page of that size: a named paper's, else CUPS' custom size.

    A landscape page takes the portrait paper (the print service turns the page onto it)."""
    paper = paper_of(w_mm, h_mm)
    if paper is not None:
        return paper.media
    short, long = sorted((w_mm, h_mm))
    return f"Custom.{short:.1f}x{long:.1f}mm".replace(".0x", "x").replace(".0mm", "mm")
