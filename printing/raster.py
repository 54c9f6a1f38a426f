"""A page of a PDF as a PNG picture (the layout editor's background and preview), drawn by
poppler's `pdftoppm` in a process of its own: a damaged or hostile PDF can only fail that
process, within a time limit."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from core.errors import MadoguchiError

TIMEOUT_S = 20


class RasterError(MadoguchiError):
    """The page could not be drawn (no pdftoppm, a damaged PDF, no such page, too slow)."""

    code = "raster_failed"


def page_png(pdf: bytes, page: int = 1, dpi: int = 72) -> bytes:
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise RasterError("pdftoppm is missing: install poppler-utils (scripts/install-system-packages does)",
                          code="pdftoppm_missing")
    with tempfile.TemporaryDirectory(prefix="madoguchi-raster-") as d:
        out = Path(d) / "page"
        try:
            done = subprocess.run([exe, "-png", "-r", str(int(dpi)), "-f", str(page), "-l", str(page), "-singlefile",
                                   "-", str(out)], input=pdf, capture_output=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RasterError("drawing the page took too long", code="raster_timeout") from None
        png = out.with_suffix(".png")
        if done.returncode != 0 or not png.is_file():
            raise RasterError(f"pdftoppm could not draw page {page} (exit {done.returncode})")
        return png.read_bytes()
