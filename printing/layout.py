"""Form layouts: data files next to their procedure (see core/procedures/layouts/README.md).

    <procedure dir>/<id>.toml                 the procedure (catalogue)
    <procedure dir>/layouts/<id>.toml         where each value prints on the paper
    <procedure dir>/backgrounds/<id>.pdf      optional: the city's own blank form

A layout without `background` is drawn from its `draw` list plus the blank parts of its
fields (boxes, labels to tick), so the system prints complete forms out of the box.

`layout_problems(layout)` lists what would print badly (a field off the page or over another,
a background of another size) as `file:line: key: what`; core/schemas/layout.schema.json
describes the file for a city's editor.
"""
from __future__ import annotations

import io
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from core.catalogue import BUILTIN_DIR, Catalogue, Procedure, get_catalogue
from core.clock import today_in_japan
from core.errors import NotFound
from core.paper import PAPERS
from core.site import current_site, line_of
from printing import fonts
from printing.errors import LayoutError
from printing.fields import FIELD_TYPES, LABEL_STYLE, CellsField, CheckField, Ctx, Field, Spec
from printing.fonts import initial_font
from printing.pen import PT, Box, Pen

PAGE_SIZES = {p.name: (p.w, p.h) for p in PAPERS.values()}
LAYOUT_KEYS = {"page", "orientation", "background", "background_page", "font", "title", "draw", "fields"}


@dataclass
class Layout:
    procedure: Procedure
    path: Path
    page_w: float
    page_h: float
    style: str
    title: str
    background: Path | None
    background_page: int
    draw: list[dict]
    fields: list[Field] = field(default_factory=list)


def layout_path(procedure: Procedure) -> Path:
    """The site folder's layout of the procedure, else the one next to the procedure's own
    file, else the built-in one of the same id."""
    site_layouts = current_site().procedures_dir
    for d in ((site_layouts,) if site_layouts else ()) + (procedure.source.parent, BUILTIN_DIR):
        p = d / "layouts" / f"{procedure.id}.toml"
        if p.is_file():
            return p
    raise LayoutError(f"no layout for procedure {procedure.id} (expected layouts/{procedure.id}.toml "
                      f"next to {procedure.source.name})", code="no_layout")


_cache: dict[tuple, Layout] = {}
_cache_lock = threading.Lock()


def load_layout(procedure_id: str, catalogue: Catalogue | None = None) -> Layout:
    """The parsed, checked layout of a procedure (cached until its file changes)."""
    catalogue = catalogue or get_catalogue()
    proc = catalogue.get(procedure_id)
    path = layout_path(proc)
    key = (id(catalogue), str(path), path.stat().st_mtime_ns)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    layout = parse_layout(path, proc, catalogue)
    with _cache_lock:
        if len(_cache) > 64:  # edited files and throw-away catalogues: start afresh
            _cache.clear()
        _cache[key] = layout
    return layout


def parse_layout(path: Path, proc: Procedure, catalogue: Catalogue) -> Layout:
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LayoutError(f"{path}: not valid TOML in UTF-8: {e}") from None
    spec = Spec(raw, str(path), LAYOUT_KEYS)
    page = raw.get("page", "A4")
    if isinstance(page, str):
        if page not in PAGE_SIZES:
            raise LayoutError(f"{path}: page must be one of {', '.join(PAGE_SIZES)} or [width, height] in mm")
        w, h = PAGE_SIZES[page]
    elif isinstance(page, list) and len(page) == 2 and all(isinstance(v, (int, float)) for v in page):
        w, h = map(float, page)
    else:
        raise LayoutError(f"{path}: page must be a paper name or [width, height] in mm")
    if spec.str("orientation", "portrait", choices=("portrait", "landscape")) == "landscape":
        w, h = max(w, h), min(w, h)
    style = spec.str("font", "mincho", choices=tuple(fonts.STYLES))
    background = spec.str("background", None)
    bg_path = None
    if background:
        bg_path = (path.parent.parent / background).resolve()
        if not bg_path.is_file():
            raise LayoutError(f"{path}: background {background} not found (looked for {bg_path})")
    layout = Layout(procedure=proc, path=path, page_w=w, page_h=h, style=style,
                    title=spec.str("title", proc.title("ja")), background=bg_path,
                    background_page=spec.int("background_page", 1), draw=spec.list("draw", []))
    for i, item in enumerate(layout.draw):
        _check_draw_item(item, f"{path}: draw[{i}]")
    for i, f in enumerate(spec.list("fields", [])):
        where = f"{path}: fields[{i}]"
        if not isinstance(f, dict) or not isinstance(f.get("type"), str) or f["type"] not in FIELD_TYPES:
            raise LayoutError(f"{where}: `type` must be one of {', '.join(FIELD_TYPES)}")
        layout.fields.append(FIELD_TYPES[f["type"]](f, where, proc, catalogue, style))
    return layout


# ------------------------------------------------------------------------------ drawing

DRAW_KEYS = {
    "text": {"x", "y", "w", "h", "text", "size", "font", "align", "valign", "char_space", "wrap", "pad"},
    "label": {"x", "y", "w", "h", "text", "size", "font", "fill", "vertical", "width", "align", "pad"},
    "rect": {"x", "y", "w", "h", "width", "fill", "dash", "radius"},
    "line": {"x1", "y1", "x2", "y2", "width", "dash"},
    "cells": {"x", "y", "h", "w", "n", "cell_w", "gap_after", "gap", "separator", "prefix", "prefix_w"},
    "circle": {"x", "y", "r", "width", "dash", "text", "size"},
    "checkbox": {"x", "y", "box_size", "label", "label_size", "label_w"},
}


def _check_draw_item(item, where):
    if not isinstance(item, dict) or item.get("kind") not in DRAW_KEYS:
        raise LayoutError(f"{where}: `kind` must be one of {', '.join(DRAW_KEYS)}")
    Spec(item, where, DRAW_KEYS[item["kind"]] | {"kind"})


def draw_item(pen: Pen, item: dict, where: str, ctx: Ctx) -> None:
    kind = item["kind"]
    s = Spec(item, where, DRAW_KEYS[kind] | {"kind"})
    if kind == "text":
        box = Box(s.num("x"), s.num("y"), s.num("w", 0.0), s.num("h", 0.0) or s.num("size", 9.0) * PT * 1.3)
        kw = dict(style=s.str("font", LABEL_STYLE), size=s.num("size", 9.0), align=s.str("align", "left"),
                  valign=s.str("valign", "middle"), pad=s.num("pad", 0.0), field=where)
        if s.bool("wrap", False):
            pen.paragraph(s.str("text"), box, min_size=kw["size"] * 0.7, **kw)
        else:
            pen.text(s.str("text"), box, char_space=s.num("char_space", 0.0), **kw)
    elif kind == "label":
        box = Box(s.num("x"), s.num("y"), s.num("w"), s.num("h"))
        pen.rect(box.x, box.y, box.w, box.h, width=s.num("width", 0.5), fill=s.num("fill", 0.9))
        style, size = s.str("font", LABEL_STYLE), s.num("size", 9.0)
        text = s.str("text", "")
        if s.bool("vertical", False):
            pen.vertical_text(text, box, style=style, size=size, field=where)
        elif "\n" in text:
            pen.paragraph(text, box, style=style, size=size, min_size=size * 0.7, align=s.str("align", "center"),
                          valign="middle", pad=s.num("pad", 0.8), leading=1.15, field=where)
        elif text:
            pen.text(text, box, style=style, size=size, align=s.str("align", "center"), pad=s.num("pad", 0.8),
                     field=where)
    elif kind == "rect":
        dash = s.raw.get("dash")
        pen.rect(s.num("x"), s.num("y"), s.num("w"), s.num("h"), width=s.num("width", 0.6),
                 fill=s.num("fill", None), dash=dash, radius=s.num("radius", 0.0))
    elif kind == "line":
        pen.line(s.num("x1"), s.num("y1"), s.num("x2"), s.num("y2"), width=s.num("width", 0.6),
                 dash=s.raw.get("dash"))
    elif kind == "cells":
        raw = {k: v for k, v in item.items() if k != "kind"}
        CellsField({"type": "cells", **raw}, where, ctx.procedure, ctx.catalogue, "mincho").frame(pen, ctx)
    elif kind == "circle":
        x, y, r = s.num("x"), s.num("y"), s.num("r")
        pen.ellipse(x, y, r, r, width=s.num("width", 0.5), dash=s.raw.get("dash"))
        if s.str("text", None):
            pen.text(s.str("text"), Box(x - r, y - r, 2 * r, 2 * r), style=LABEL_STYLE, size=s.num("size", 9.0),
                     align="center", pad=0, field=where)
    elif kind == "checkbox":
        raw = {k: v for k, v in item.items() if k != "kind"}
        CheckField({"type": "check", **raw}, where, ctx.procedure, ctx.catalogue, "mincho").frame(pen, ctx)


def draw_background(pen: Pen, layout: Layout, ctx: Ctx) -> None:
    """The blank form: the `draw` list, then each field's boxes and labels."""
    for i, item in enumerate(layout.draw):
        draw_item(pen, item, f"{layout.path.name}: draw[{i}]", ctx)
    for f in layout.fields:
        f.frame(pen, ctx)


_bg_cache: dict[tuple, bytes] = {}


def background_pdf(layout: Layout, catalogue: Catalogue) -> bytes:
    """The layout's blank form as PDF bytes: the city's file, or drawn (once per process)."""
    if layout.background is not None:
        return layout.background.read_bytes()
    key = (str(layout.path), layout.path.stat().st_mtime_ns, id(catalogue))
    pdf = _bg_cache.get(key)
    if pdf is None:
        from reportlab.pdfgen.canvas import Canvas

        from printing.pen import MM
        buf = io.BytesIO()
        # invariant: the same layout always gives the same bytes
        c = Canvas(buf, pagesize=(layout.page_w * MM, layout.page_h * MM), invariant=1, pageCompression=1,
                   initialFontName=initial_font())  # type: ignore[arg-type]  # the stub says float
        c.setTitle(layout.title)
        c.setAuthor("madoguchi")
        ctx = Ctx(catalogue, layout.procedure, {}, None, today_in_japan(), layout.style)
        draw_background(Pen(c, layout.page_h), layout, ctx)
        c.showPage()
        c.save()
        pdf = buf.getvalue()
        if len(_bg_cache) > 64:
            _bg_cache.clear()
        _bg_cache[key] = pdf
    return pdf


# ------------------------------------------------------------------------------ checking

PAGE_SLACK_MM = 0.5       # a box may reach this far past the paper's edge (rounding, hairlines)
_ENTRY_RE = re.compile(r"^(?P<entry>(?:fields|draw)\[\d+\](?:\.columns\[\d+\])?)(?::\s*|\s+)(?P<what>.*)$", re.S)


def layout_problems(layout: Layout | Path | str, catalogue: Catalogue | None = None) -> list[str]:
    """Every problem of a layout, each as `file:line: key: what` (empty when it prints well).

    `layout` is a parsed Layout or the path of a layout file (`layouts/<procedure id>.toml`,
    read against the procedure of its name). Finds: an entry that cannot be read (an unknown
    key, a wrong type, a source that is not a field of the procedure nor @today,
    @application_id, @municipality or @addressee; only the first of these, as the renderer
    stops there), a field off the page, two fields printing over each other, and a background
    PDF that is not readable or not of the layout's page size.
    """
    catalogue = catalogue or get_catalogue()
    if not isinstance(layout, Layout):
        path = Path(layout)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            return [f"{_shown(path)}: cannot be read ({type(e).__name__})"]
        try:
            layout = parse_layout(path, catalogue.get(path.stem), catalogue)
        except NotFound:
            return [f"{_shown(path)}: no procedure {path.stem} for this layout (a layout is named after its procedure)"]
        except LayoutError as e:
            return [_located(path, text, str(e))]
    text = layout.path.read_text("utf-8")
    problems: list[str] = []

    def add(key: str, what: str) -> None:
        line = line_of(text, key)
        problems.append(f"{_shown(layout.path)}{f':{line}' if line else ''}: {key}: {what}")

    for i, f in enumerate(layout.fields):
        for b in f.extent():
            side = ("x" if b.x < -PAGE_SLACK_MM else "y" if b.y < -PAGE_SLACK_MM
                    else "w" if b.x + b.w > layout.page_w + PAGE_SLACK_MM
                    else "h" if b.y + b.h > layout.page_h + PAGE_SLACK_MM else None)
            if side:
                add(f"fields[{i}].{side}", f"{f.name} is off the page: it spans x {b.x:g}–{b.x + b.w:g}, "
                    f"y {b.y:g}–{b.y + b.h:g} mm on a {layout.page_w:g} × {layout.page_h:g} mm page")
                break
    for j, g in enumerate(layout.fields):
        for i, f in enumerate(layout.fields[:j]):
            area = max((_overlap(a, b) for a in f.extent() for b in g.extent()), default=(0.0, 0.0),
                       key=lambda wh: wh[0] * wh[1])
            if area[0] * area[1] > 1e-6:
                add(f"fields[{j}]", f"{g.name} prints over fields[{i}] ({f.name}): they share "
                    f"{area[0]:.1f} × {area[1]:.1f} mm")
    if layout.background is not None:
        from printing.render import background_page
        try:
            background_page(layout, catalogue)
        except LayoutError as e:
            add("background", str(e).removeprefix(f"{layout.path}: ").removeprefix("background "))
    return problems


def _overlap(a: Box, b: Box) -> tuple[float, float]:
    return (max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x)),
            max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y)))


def _located(path: Path, text: str, message: str) -> str:
    """A parse error (`<path>: fields[3]: `x` must be a number`) as `file:line: fields[3].x: what`."""
    what = message.removeprefix(f"{path}: ").removeprefix(f"{path} ")
    m = _ENTRY_RE.match(what)
    if not m:
        return f"{_shown(path)}: {what}"
    entry, what = m.group("entry"), m.group("what")
    key = re.search(r"`([A-Za-z_]+)`|unknown keys \['([A-Za-z0-9_\-]+)'|\b(source|type)\b", what)
    dotted = f"{entry}.{next(g for g in key.groups() if g)}" if key else entry
    line = line_of(text, dotted)
    return f"{_shown(path)}{f':{line}' if line else ''}: {dotted}: {what}"


def _shown(path: Path) -> str:
    """A layout's file as a person finds it: inside the site folder, or inside the project."""
    path = path.resolve()
    site = current_site().folder
    for base in ((site,) if site else ()) + (BUILTIN_DIR.parent.parent,):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)
