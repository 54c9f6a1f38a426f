"""PDFs that are not usable blank forms, for the form import's and the layout editor's tests."""
from __future__ import annotations

import io
import os

from pypdf import PdfWriter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

MM = 72 / 25.4


def encrypted_pdf() -> bytes:
    w = PdfWriter()
    w.add_blank_page(595, 842)
    w.encrypt("secret")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def no_pages_pdf() -> bytes:
    buf = io.BytesIO()
    PdfWriter().write(buf)
    return buf.getvalue()


def scanned_pdf(noisy: bool = False) -> bytes:
    """A page that is only a picture, as a scanner makes (`noisy`: a grainy one of about 1.5 MB)."""
    from PIL import Image
    if noisy:
        img = Image.frombytes("RGB", (700, 990), os.urandom(700 * 990 * 3))
    else:
        img = Image.new("L", (200, 280), 255)
        for x in range(20, 180):
            img.putpixel((x, 40), 0)
    png = io.BytesIO()
    img.save(png, "PNG")
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(210 * MM, 297 * MM))
    c.drawImage(ImageReader(io.BytesIO(png.getvalue())), 0, 0, 210 * MM, 297 * MM)
    c.showPage()
    c.save()
    return buf.getvalue()


def rotated_pdf() -> bytes:
    """A page turned by its /Rotate entry, as a viewer shows a form scanned sideways."""
    w = PdfWriter()
    w.add_blank_page(595, 842).rotate(90)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()
