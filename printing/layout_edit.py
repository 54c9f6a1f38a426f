"""What the layout editor does to a layout, without the web: read a layout as its raw table,
check a table the browser sent (it may be hostile), render it blank or with the sample
application, and save it into the site folder.

A table is checked by parsing it as a layout file (`parse_layout`, the code that loads every
layout), so the editor accepts exactly what the renderer accepts; then each field must lie on
the page (and, where printing.layout has it, pass `layout_problems`).
"""
from __future__ import annotations

import re
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from core.catalogue import Catalogue, Procedure
from core.site import current_site
from printing.errors import LayoutError
from printing.fields import COMMON, FIELD_TYPES, SPECIAL_SOURCES
from printing.layout import LAYOUT_KEYS, Layout, background_pdf, layout_path, parse_layout
from printing.layout_file import digest, dump_layout, replace_file

MAX_FIELDS = 300
BACKGROUND = re.compile(r"^backgrounds/[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.pdf$")
SAMPLE_DAY = date(2026, 4, 1)


class EditRefused(LayoutError):
    """A layout the editor will not render or save. Codes: not_layout (not a layout's shape),
    layout_invalid (the layout parser's refusal, its message names the entry), off_page,
    layout_problem, no_site, bad_background."""

    def __init__(self, message: str, code: str = "layout_invalid", **details):
        super().__init__(message, code=code, **details)


def field_keys() -> dict[str, list[str]]:
    """The keys each field type takes (the editor drops the others when a field changes type)."""
    return {name: sorted(COMMON | cls.keys) for name, cls in FIELD_TYPES.items()}


def sources_for(procedure: Procedure, catalogue: Catalogue) -> list[dict]:
    """What a field of this procedure's form can print: its catalogue fields and the specials."""
    out = [{"name": f.name, "type": f.type, "label": f.label_in("ja")}
           for f in catalogue.fields_for([procedure.id])]
    return out + [{"name": name, "type": kind, "label": name} for name, kind in SPECIAL_SOURCES.items()]


def where_saved(procedure: Procedure) -> Path:
    """The site folder's layout file of the procedure (where the editor saves)."""
    layouts = current_site().layouts_dir
    if layouts is None:
        raise EditRefused("no site folder: set [site].folder in the config", code="no_site")
    return layouts / f"{procedure.id}.toml"


def current_table(procedure: Procedure) -> tuple[dict, Path, bytes]:
    """The layout's raw table as its file has it (the site's, else the built-in), the file and its bytes."""
    path = layout_path(procedure)
    data = path.read_bytes()
    try:
        return tomllib.loads(data.decode("utf-8")), path, data
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise LayoutError(f"{path.name}: not valid TOML ({e})", code="layout_unreadable") from None


def checked_table(raw: Any) -> dict:
    """The shape of a layout table from a client: an object of layout keys, fields as a list of objects."""
    if not isinstance(raw, dict):
        raise EditRefused("the layout must be an object", code="not_layout")
    unknown = set(raw) - LAYOUT_KEYS
    if unknown:
        raise EditRefused(f"unknown layout keys {sorted(unknown)}", code="not_layout")
    fields = raw.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
        raise EditRefused("`fields` must be a list of objects", code="not_layout")
    if len(fields) > MAX_FIELDS:
        raise EditRefused(f"at most {MAX_FIELDS} fields", code="not_layout")
    bg = raw.get("background")
    if bg is not None and not (isinstance(bg, str) and (bg == "" or BACKGROUND.match(bg))):
        raise EditRefused("`background` must be backgrounds/<name>.pdf of the site folder", code="bad_background")
    return {k: v for k, v in raw.items() if not (k == "background" and not v)}


@contextmanager
def parsed_table(raw: dict, procedure: Procedure, catalogue: Catalogue) -> Iterator[Layout]:
    """The layout of a table, parsed as its file would be, while that (temporary) file exists.
    Raises EditRefused naming the problem."""
    raw = checked_table(raw)
    procedures_dir = current_site().procedures_dir
    if raw.get("background"):
        if procedures_dir is None:
            raise EditRefused("no site folder: set [site].folder in the config", code="no_site")
        # named absolutely, as it resolves from the site's layouts folder: the temporary file is
        # elsewhere (in layouts/ the catalogue would hash it)
        raw = {**raw, "background": str(procedures_dir / raw["background"])}
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".toml", prefix="madoguchi-layout-",
                                     delete=True) as f:
        f.write(dump_layout(raw))
        f.flush()
        yield _parse_file(Path(f.name), procedure, catalogue)


def _parse_file(path: Path, procedure: Procedure, catalogue: Catalogue) -> Layout:
    try:
        layout = parse_layout(path, procedure, catalogue)
    except LayoutError as e:
        raise EditRefused(_without_path(str(e), path)) from None
    problems = layout_problems_of(layout)
    if problems:
        raise EditRefused("; ".join(_without_path(p, path) for p in problems), code="layout_problem",
                          problems=problems)
    return layout


def _without_path(message: str, path: Path) -> str:
    """A parser message names the file: the temporary one means nothing to the person editing."""
    return message.replace(f"{path}: ", "").replace(str(path), "the layout")


def layout_problems_of(layout: Layout) -> list[str]:
    """Fields off the page or over each other, unknown sources, a background of the wrong size."""
    from printing.layout import layout_problems
    return list(layout_problems(layout))


def render_table(raw: dict, procedure: Procedure, catalogue: Catalogue, sample: bool) -> bytes:
    """The table's form as PDF: blank (its background), or filled with the sample application."""
    from printing.render import render_layout
    from printing.sample import sample_application
    with parsed_table(raw, procedure, catalogue) as layout:
        if not sample:
            return background_pdf(layout, catalogue)
        return render_layout(layout, sample_application(procedure.id, catalogue), catalogue=catalogue,
                             on=SAMPLE_DAY)


def save_table(raw: dict, procedure: Procedure, catalogue: Catalogue) -> tuple[Path, str, str]:
    """Write the table as the site's layout of the procedure, checked first; the old file is
    kept as .bak. Returns the file and the SHA-256 of its content before and after."""
    raw = checked_table(raw)
    target = where_saved(procedure)
    header = f"{procedure.title('ja')} — saved by the layout editor (/counter/admin/layouts).\n" \
             "Millimetres from the page's top-left corner; sizes in points. Format: core/procedures/layouts/README.md."
    before = target.read_bytes() if target.is_file() else None
    if before is None:
        try:
            before = layout_path(procedure).read_bytes()    # the built-in layout it replaces
        except LayoutError:
            before = None
    def check(new_file: Path) -> None:
        _parse_file(new_file, procedure, catalogue)

    replace_file(target, dump_layout(raw, header).encode("utf-8"), check=check)
    return target, digest(before), digest(target.read_bytes())
