"""Reading a city's blank form PDF and proposing a layout for it (`madoguchi form import`, and
the layout editor's import).

pdfplumber finds the page's boxes (rectangles, and cells of grids drawn with lines) and the
words printed on it. A box with words in it is a label; an empty box is where a value goes,
named by the label in the box to its left (or above it, or the words just before it). A label
that is a catalogue field's Japanese label (氏名, 住所, フリガナ…) gives the box its source.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.catalogue import Catalogue, FieldDef
from core.errors import MadoguchiError
from printing.layout import PAGE_SIZES
from printing.pen import MM

MIN_BOX_MM = 2.5          # smaller boxes are rules and ticks, not places for a value
SAME_EDGE_PT = 2.0
# Labels forms use for the common fields besides the catalogue's own wording.
LABEL_SYNONYMS = {"ふりがな": "kana", "フリガナ": "kana", "氏名": "name", "名前": "name", "お名前": "name",
                  "住所": "address", "現住所": "address", "生年月日": "birth_date", "電話番号": "phone",
                  "電話": "phone", "連絡先": "phone", "郵便番号": "postal_code", "性別": "sex"}
# Words over the part of a form the office fills in: no applicant's value goes below them.
OFFICE_USE_MARKERS = ("記入しないで", "窓口使用欄", "事務処理欄", "職員記入欄", "処理欄")
# catalogue type -> the layout field that prints it, with its keys
LAYOUT_TYPE: dict[str, dict[str, Any]] = {
    "text": {"type": "text"}, "kana": {"type": "kana"}, "address": {"type": "multiline"},
    "phone": {"type": "text"}, "number": {"type": "text"}, "postal_code": {"type": "text", "format": "postal"},
    "date": {"type": "date", "style": "text"}, "choice": {"type": "text", "format": "choice"},
}


class FormImportError(MadoguchiError):
    """A PDF that cannot be read as a blank form. Codes: not_pdf, encrypted, no_pages, rotated."""

    code = "form_unusable"


@dataclass
class Box:
    x0: float      # points from the page's left and top edges
    top: float
    x1: float
    bottom: float
    text: str = ""

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.bottom - self.top

    def contains(self, other: Box, slack: float = SAME_EDGE_PT) -> bool:
        return (self.x0 - slack <= other.x0 and other.x1 <= self.x1 + slack
                and self.top - slack <= other.top and other.bottom <= self.bottom + slack)

    def same(self, other: Box) -> bool:
        return all(abs(a - b) <= SAME_EDGE_PT for a, b in
                   ((self.x0, other.x0), (self.x1, other.x1), (self.top, other.top), (self.bottom, other.bottom)))


@dataclass
class Proposal:
    """What the import found: the page, and one entry per empty box."""

    page: str | list[float]                 # a paper name of PAGE_SIZES, or [w, h] in mm
    page_w: float                           # mm
    page_h: float
    fields: list[dict] = field(default_factory=list)         # layout entries with a source
    unmatched: list[dict] = field(default_factory=list)      # {"label", "field": layout entry without source}
    image_only: bool = False                # a scan: no boxes or words to read, only a picture
    pages: int = 1

    def layout(self, background: str) -> dict:
        """The proposed layout's raw table (what a layout TOML holds)."""
        return {"page": self.page, "font": "mincho", "background": background, "fields": list(self.fields)}

    def toml(self, background: str, source_name: str) -> str:
        from printing.layout_file import dump_layout
        header = (f"Proposed by `madoguchi form import` from {source_name}: check every box, then move it\n"
                  "into the site's procedures/layouts/<procedure id>.toml. Millimetres from the page's top-left\n"
                  "corner; sizes in points. Format: core/procedures/layouts/README.md.")
        if self.image_only:
            header += ("\nThe PDF is a picture (a scan) with no boxes or text to read: place the fields by hand\n"
                       "(the layout editor at /counter/admin/layouts shows the page under them).")
        trailer = ""
        if self.unmatched:
            blocks = []
            for u in self.unmatched:
                f = u["field"]
                why = f"box next to 「{u['label']}」" if u["label"] else "a box with no label near it"
                blocks.append(f"{why}: no catalogue field has that label; to use it, set a source:\n"
                              "[[fields]]\n" + "\n".join(f"{k} = {_plain(v)}" for k, v in f.items()))
            trailer = "\n\n".join(blocks)
        return dump_layout(self.layout(background), header, trailer)


def background_name(procedure_id: str) -> str:
    """Where a layout names its procedure's blank form (relative to the procedures folder)."""
    return f"backgrounds/{procedure_id}.pdf"


def install_background(pdf: bytes, procedures_dir: Path, procedure_id: str) -> Path:
    """Put a blank form into the site's backgrounds folder (atomically; a different file there
    before is kept as `.bak`). Returns its path."""
    from printing.layout_file import replace_file
    target = procedures_dir / background_name(procedure_id)
    replace_file(target, pdf)
    return target


def _plain(v) -> str:
    from printing.layout_file import toml_value
    return toml_value(v)


def read_blank_form(pdf: bytes, catalogue: Catalogue, procedure_id: str | None = None,
                    page_number: int = 1) -> Proposal:
    """Boxes and labels of one page of a blank form, as a proposed layout.

    Raises FormImportError for a file that is not a PDF, is encrypted or has no pages. A page
    with no vector content (a scan) gives a proposal with no fields and `image_only` set: it can
    still be a background, with the fields placed by hand."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError
    if not pdf.lstrip()[:5].startswith(b"%PDF-"):
        raise FormImportError("the file is not a PDF", code="not_pdf")
    try:
        reader = PdfReader(io.BytesIO(pdf))
        if reader.is_encrypted:
            raise FormImportError("the PDF is encrypted: save an unprotected copy of the blank form",
                                  code="encrypted")
        n_pages = len(reader.pages)
    except FormImportError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
        raise FormImportError(f"the PDF cannot be read ({type(e).__name__})", code="not_pdf") from None
    if n_pages == 0:
        raise FormImportError("the PDF has no pages", code="no_pages")
    if not 1 <= page_number <= n_pages:
        raise FormImportError(f"the PDF has no page {page_number} (it has {n_pages})", code="no_pages")
    if int(reader.pages[page_number - 1].get("/Rotate", 0) or 0) % 360:
        # the renderer lays values over the page as it is drawn, not as a viewer turns it
        raise FormImportError("the page is rotated: save it upright and import it again", code="rotated")
    try:
        return _read_page(pdf, page_number, n_pages, catalogue, procedure_id)
    except FormImportError:
        raise
    except Exception as e:  # pdfminer raises many kinds for a damaged file
        raise FormImportError(f"the PDF cannot be read ({type(e).__name__})", code="not_pdf") from None


def _read_page(pdf: bytes, page_number: int, n_pages: int, catalogue: Catalogue,
               procedure_id: str | None) -> Proposal:
    import pdfplumber
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[page_number - 1]
        llx, lly, urx, ury = (float(v) for v in page.mediabox)
        w_mm, h_mm = round((urx - llx) / MM, 1), round((ury - lly) / MM, 1)
        proposal = Proposal(page=_paper_name(w_mm, h_mm), page_w=w_mm, page_h=h_mm, pages=n_pages)
        boxes = _boxes(page)
        words = page.extract_words(keep_blank_chars=False, use_text_flow=True)
        if not boxes and not words and not page.lines and not page.curves:
            proposal.image_only = True
            return proposal
    _label_boxes(boxes, words)
    office_top = min((float(w["top"]) for w in words if any(m in w["text"] for m in OFFICE_USE_MARKERS)),
                     default=None)
    if office_top is not None:
        boxes = [b for b in boxes if b.top < office_top]
    candidates = _candidates(catalogue, procedure_id)
    used: set[str] = set()
    for box in sorted((b for b in boxes if not b.text), key=lambda b: (round(b.top), b.x0)):
        label = _label_of(box, boxes, words)
        entry = {"x": _mm(box.x0), "y": _mm(box.top), "w": _mm(box.w), "h": _mm(box.h)}
        fd = _match(label, [f for f in candidates if f.name not in used]) if label else None
        if fd is not None and fd.type in LAYOUT_TYPE:
            used.add(fd.name)
            proposal.fields.append({**LAYOUT_TYPE[fd.type], "source": fd.name, **entry, **_size(fd, box)})
        else:
            proposal.unmatched.append({"label": label, "field": {"type": "text", **entry}})
    return proposal


def _paper_name(w: float, h: float) -> str | list[float]:
    for name, (pw, ph) in PAGE_SIZES.items():
        if abs(pw - w) <= 1.5 and abs(ph - h) <= 1.5:
            return name
    return [w, h]


def _mm(pt: float) -> float:
    return round(pt / MM * 2) / 2       # half millimetres: what anyone measuring a form would write


def _size(fd: FieldDef, box: Box) -> dict:
    """A font size that suits the box's height (points), for one-line fields."""
    if fd.type == "address" or fd.type == "date":
        return {"size": 11}
    return {"size": max(7, min(16, int(box.h * 0.45)))}


def _boxes(page) -> list[Box]:
    """The smallest boxes drawn on the page: rectangles and the cells of line grids, without
    the frames around them."""
    found: list[Box] = []
    for r in page.rects:
        found.append(Box(float(r["x0"]), float(r["top"]), float(r["x1"]), float(r["bottom"])))
    try:
        tables = page.find_tables({"vertical_strategy": "lines", "horizontal_strategy": "lines"})
    except Exception:       # a grid pdfplumber cannot resolve: the rectangles are still there
        tables = []
    for t in tables:
        for c in t.cells:
            x0, top, x1, bottom = (float(v) for v in c)
            found.append(Box(x0, top, x1, bottom))
    min_pt = MIN_BOX_MM * MM
    page_w, page_h = float(page.width), float(page.height)
    boxes: list[Box] = []
    for b in found:
        if b.w < min_pt or b.h < min_pt or (b.w > page_w * 0.95 and b.h > page_h * 0.95):
            continue
        if not any(b.same(o) for o in boxes):
            boxes.append(b)
    return [b for b in boxes if not any(o is not b and b.contains(o) and not o.same(b) for o in boxes)]


def _label_boxes(boxes: list[Box], words: list[dict]) -> None:
    for b in boxes:
        inside = [w for w in words if b.contains(_word_box(w), slack=1.0)]
        inside.sort(key=lambda w: (round(float(w["top"])), float(w["x0"])))
        b.text = "".join(w["text"] for w in inside)


def _word_box(w: dict) -> Box:
    return Box(float(w["x0"]), float(w["top"]), float(w["x1"]), float(w["bottom"]))


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _label_of(box: Box, boxes: list[Box], words: list[dict]) -> str:
    """The label that names an empty box: the labelled box just left of it, else just above
    it, else the words printed just before it on its line."""
    left = [b for b in boxes if b.text and abs(b.x1 - box.x0) <= SAME_EDGE_PT * 2
            and _overlap(b.top, b.bottom, box.top, box.bottom) >= 0.5 * min(b.h, box.h)]
    if left:
        return max(left, key=lambda b: _overlap(b.top, b.bottom, box.top, box.bottom)).text
    above = [b for b in boxes if b.text and abs(b.bottom - box.top) <= SAME_EDGE_PT * 2
             and _overlap(b.x0, b.x1, box.x0, box.x1) >= 0.5 * min(b.w, box.w)]
    if above:
        return above[0].text
    free = [w for w in words if not any(b.contains(_word_box(w), slack=1.0) for b in boxes)]
    before = [w for w in free if float(w["x1"]) <= box.x0 + 1 and box.x0 - float(w["x1"]) <= 30
              and _overlap(float(w["top"]), float(w["bottom"]), box.top, box.bottom) > 0]
    if before:
        return max(before, key=lambda w: float(w["x1"]))["text"]
    return ""


def normalise_label(text: str) -> str:
    """A label as compared: no spaces, no bracketed notes (電話番号（日中の連絡先） → 電話番号)."""
    text = re.sub(r"[（(][^）)]*[）)]", "", text)
    return re.sub(r"[\s\u3000・:：]", "", text)


def _in_order(short: str, long: str) -> bool:
    """Every character of `short` in `long`, in order (前の鑑札番号 in 前の市区町村の鑑札番号)."""
    chars = iter(long)
    return all(c in chars for c in short)


def _candidates(catalogue: Catalogue, procedure_id: str | None) -> list[FieldDef]:
    if procedure_id:
        return catalogue.fields_for([procedure_id])
    seen: dict[str, FieldDef] = dict(catalogue.person_fields)
    for proc in catalogue.procedures.values():
        for f in proc.fields:
            seen.setdefault(f.name, f)
    return list(seen.values())


def _match(label: str, candidates: list[FieldDef]) -> FieldDef | None:
    """The field a label names: the same wording as its Japanese label, else a usual synonym,
    else the only field whose label has the form's label's characters in order (名前 on a dog form →
    犬の名前, 前の鑑札番号 → 前の市区町村の鑑札番号), else a
    usual synonym (お名前 → name)."""
    want = normalise_label(label)
    if not want:
        return None
    by_name = {f.name: f for f in candidates}
    exact = [f for f in candidates if normalise_label(f.label_in("ja")) == want]
    if exact:
        return exact[0]
    containing = [f for f in candidates if _in_order(want, normalise_label(f.label_in("ja")))]
    if len(containing) == 1:
        return containing[0]
    return by_name.get(LABEL_SYNONYMS.get(want, ""))
