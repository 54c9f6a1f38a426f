"""A page of an existing PDF (a blank form) placed under reportlab's drawing as a Form XObject.

pypdf reads the background once; its page becomes a template of raw PDF objects (the
drawing operators plus every font, image and resource they use, byte for byte). Each new
reportlab document gets fresh objects from that template, numbered by reportlab as it
saves, so laying values over a form costs no parsing or re-serialising per render (doing
the overlay with pypdf's merge took longer than drawing the values).
"""
from __future__ import annotations

import io
import zlib

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NullObject, PdfObject, StreamObject
from reportlab.pdfbase.pdfdoc import PDFObject
from reportlab.pdfgen.canvas import Canvas

Part = bytes | int     # literal bytes, or the index of another object of the template


class ImportedPage:
    """One page of a PDF as a Form XObject template."""

    def __init__(self, pdf: bytes, page_number: int = 1):
        reader = PdfReader(io.BytesIO(pdf))
        page = reader.pages[page_number - 1]
        self.rotation = int(page.get("/Rotate", 0) or 0) % 360
        self.bbox = [float(v) for v in page.mediabox]
        self.nodes: list[list[Part]] = []
        self._index: dict[tuple[int, int], int] = {}
        contents = page.get_contents()
        data = zlib.compress(contents.get_data() if contents is not None else b"", 6)
        llx, lly = self.bbox[0], self.bbox[1]
        head: list[Part] = [
            b"<< /Type /XObject /Subtype /Form /FormType 1 /BBox " + _nums(self.bbox)
            + b" /Matrix " + _nums([1, 0, 0, 1, -llx, -lly]) + b" /Resources "]
        resources = page.get("/Resources")
        head += self._value(resources) if resources is not None else [b"<< >>"]
        head.append(b" /Filter /FlateDecode /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
        self.root = self._add(head)

    @property
    def size(self) -> tuple[float, float]:
        return self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]

    def _add(self, parts: list[Part]) -> int:
        self.nodes.append(_join(parts))
        return len(self.nodes) - 1

    def _value(self, obj: PdfObject) -> list[Part]:
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key not in self._index:
                self.nodes.append([])          # reserve the slot first: objects may refer back
                i = self._index[key] = len(self.nodes) - 1
                target = obj.get_object()
                # a reference to an object the file lacks means null (PDF 32000-1 §7.3.10)
                self.nodes[i] = _join(self._object(NullObject() if target is None else target))
            return [self._index[key]]
        return self._object(obj)

    def _object(self, obj: PdfObject) -> list[Part]:
        if isinstance(obj, StreamObject):
            # the bytes as they were in the file (still encoded with the stream's own /Filter)
            raw = obj._data
            parts: list[Part] = [b"<<"]
            for k, v in obj.items():
                if k == "/Length":
                    continue
                parts += [b" ", _leaf(k), b" ", *self._value(v)]
            parts.append(b" /Length %d >>\nstream\n" % len(raw) + raw + b"\nendstream")
            return parts
        if isinstance(obj, DictionaryObject):
            parts = [b"<<"]
            for k, v in obj.items():
                parts += [b" ", _leaf(k), b" ", *self._value(v)]
            parts.append(b" >>")
            return parts
        if isinstance(obj, ArrayObject):
            parts = [b"["]
            for n, v in enumerate(obj):
                if n:
                    parts.append(b" ")
                parts += self._value(v)
            parts.append(b"]")
            return parts
        return [_leaf(obj)]

    def place(self, canvas: Canvas, name: str) -> None:
        """Draw the page at the canvas's origin (call at the start of a page)."""
        doc = canvas._doc  # type: ignore[attr-defined]  # reportlab has no public way to its PDFDocument
        if not doc.hasForm(name):
            doc.Reference(_RawObject(self, self.root, {}), doc.getXObjectName(name))
        canvas.saveState()
        canvas.doForm(name)
        canvas.restoreState()


class _RawObject(PDFObject):
    """An object of the template inside one reportlab document."""

    def __init__(self, page: ImportedPage, index: int, made: dict[int, _RawObject]):
        self.page, self.index, self.made = page, index, made
        made[index] = self

    def format(self, document) -> bytes:
        out = []
        for part in self.page.nodes[self.index]:
            if isinstance(part, bytes):
                out.append(part)
            else:
                child = self.made.get(part) or _RawObject(self.page, part, self.made)
                out.append(document.Reference(child).format(document))
        return b"".join(out)


def _leaf(obj: PdfObject) -> bytes:
    buf = io.BytesIO()
    obj.write_to_stream(buf)
    return buf.getvalue()


def _nums(values) -> bytes:
    return b"[" + b" ".join(b"%.4f" % v for v in values) + b"]"


def _join(parts: list[Part]) -> list[Part]:
    """Merge neighbouring byte strings, so formatting is a short join."""
    out: list[Part] = []
    for p in parts:
        if isinstance(p, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += p
        else:
            out.append(p)
    return out
