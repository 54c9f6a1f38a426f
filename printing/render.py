"""Render application forms to PDF: values drawn by reportlab, laid over the blank form with pypdf.

One renderer for every form: it reads the procedure's layout, checks each value it prints
(a malformed one raises MalformedValue naming the field; absent ones leave boxes blank),
asks each field to draw itself (dispatch on the field's type), then places the page's
background (the city's PDF, or the form we draw) under the values as a Form XObject.
"""
from __future__ import annotations

import io
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reportlab.pdfgen.canvas import Canvas

from core.catalogue import Catalogue, FieldDef, Procedure, get_catalogue
from core.clock import in_japan, today_in_japan
from core.errors import FieldError
from core.forms import MAX_HOUSEHOLD, normalise_value
from printing.errors import LayoutError, MalformedValue, MissingGlyph
from printing.fields import HOUSEHOLD_KEYS, Ctx, HouseholdField, QrField
from printing.fonts import initial_font
from printing.layout import Layout, background_pdf, load_layout, parse_layout
from printing.pdfimport import ImportedPage
from printing.pen import MM, Box, Pen

# reportlab keeps per-document font state and global registries; one render at a time is
# simplest and fast enough (a page takes milliseconds).
_render_lock = threading.RLock()
CONTINUATION_TOP = 42.0      # mm: where the table starts on a continuation sheet
CONTINUATION_BOTTOM = 280.0


def today() -> date:
    """The date printed as 届出日/申請日: the day in Japan, wherever the server's clock is set."""
    return today_in_japan()


def render_form(procedure_id: str, data: dict, application_id: str | None = None, *,
                catalogue: Catalogue | None = None, on: date | None = None) -> bytes:
    """One procedure's form as PDF bytes (more than one page only when a table overflows)."""
    catalogue = catalogue or get_catalogue()
    return _render([procedure_id], data, application_id, catalogue, on or today())


def render_application(json_form: dict, application_id: str | None = None, *,
                       catalogue: Catalogue | None = None, on: date | None = None,
                       slip: dict[str, str] | None = None) -> bytes:
    """Every form of the visit in one PDF, in the order of `json_form["procedures"]`; with
    `slip` (`reception_slip`'s values), the kiosk's 受付票 as the last page."""
    catalogue = catalogue or get_catalogue()
    if not isinstance(json_form, dict):
        raise MalformedValue("", "not_object", "an application must be a JSON object")
    procs = json_form.get("procedures")
    if not isinstance(procs, list) or not procs or not all(isinstance(p, str) for p in procs):
        raise MalformedValue("procedures", "required", "procedures must list at least one procedure id")
    return _render(list(dict.fromkeys(procs)), json_form, application_id, catalogue, on or today(), slip)


SLIP_LAYOUT = Path(__file__).resolve().parent / "reception_slip.toml"


def reception_slip(*, reception_number: str | None, procedure_names: list[str], printed_at: datetime,
                   status_url: str | None) -> dict[str, str]:
    """The slip's values: no name, no address (a slip can be lost); the time in Japan."""
    local = in_japan(printed_at)
    return {"reception_number": reception_number or "", "procedure_names": "、".join(procedure_names),
            "printed_at": f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}",
            "status_url": status_url or ""}


def slip_layout(catalogue: Catalogue) -> Layout:
    """The slip's layout: data, as the forms' are, though no procedure owns it."""
    key = ("slip", id(catalogue), SLIP_LAYOUT.stat().st_mtime_ns)
    hit = _slip_cache.get(key)
    if hit is None:
        proc = Procedure(id="reception_slip", names={"ja": "受付票"}, form_title={}, description={}, section={},
                         what_to_bring={}, life_events=(), person_fields=(), card_fills=(),
                         needs_individual_number=False, fee=0, fields=(), source=SLIP_LAYOUT)
        hit = _slip_cache[key] = parse_layout(SLIP_LAYOUT, proc, catalogue)
    return hit


_slip_cache: dict[tuple, Layout] = {}


def render_layout(layout: Layout, data: dict, application_id: str | None = None, *,
                  catalogue: Catalogue | None = None, on: date | None = None) -> bytes:
    """One form from a layout that is not (yet) the procedure's file: the layout editor's preview."""
    catalogue = catalogue or get_catalogue()
    return _render_forms([(layout, prepare_values(layout.procedure, data, catalogue))], application_id,
                         catalogue, on or today())


# ------------------------------------------------------------------------------ values

def prepare_values(proc: Procedure, data: Any, catalogue: Catalogue) -> dict[str, Any]:
    """The values this form prints, each checked and normalised as the JSON form defines it.

    Absent values stay absent (completeness is the flows' job); answers whose `when` does not
    hold are left out, as the flows drop them; keys of other procedures are ignored.
    """
    if not isinstance(data, dict):
        raise MalformedValue("", "not_object", "an application must be a JSON object")
    values: dict[str, Any] = {}
    for f in catalogue.fields_for([proc.id]):
        v = data.get(f.name)
        if v is None or v == "" or not f.applies(data):
            continue
        if f.type == "household":
            values[f.name] = _household(v, f.name, catalogue)
            continue
        values[f.name] = _checked(f, v, f.name, catalogue)
    return values


def _checked(f: FieldDef, value: Any, path: str, catalogue: Catalogue) -> Any:
    """The value as the JSON form defines it; a character the fonts lack is MissingGlyph, as when drawing."""
    errors: list[FieldError] = []
    nv = normalise_value(f, value, path, errors, catalogue)
    if errors:
        if errors[0].code == "unprintable_character":
            raise MissingGlyph(errors[0].params["character"], errors[0].field)
        raise MalformedValue(errors[0].field, errors[0].code)
    return nv


def _household(value: Any, path: str, catalogue: Catalogue) -> list[dict]:
    if not isinstance(value, list):
        raise MalformedValue(path, "not_list")
    if len(value) > MAX_HOUSEHOLD:
        raise MalformedValue(path, "too_many")
    out = []
    for i, member in enumerate(value):
        mpath = f"{path}[{i}]"
        if not isinstance(member, dict):
            raise MalformedValue(mpath, "not_object")
        m = {}
        for key in HOUSEHOLD_KEYS:
            v = member.get(key)
            if v is None or v == "":
                continue
            if key == "relationship":
                if catalogue.relationships and v not in catalogue.relationships:
                    raise MalformedValue(f"{mpath}.{key}", "bad_choice")
                m[key] = v
                continue
            m[key] = _checked(catalogue.field(key), v, f"{mpath}.{key}", catalogue)
        out.append(m)
    return out


# ------------------------------------------------------------------------------ pages

def _render(procedure_ids: list[str], data: dict, application_id: str | None, catalogue: Catalogue,
            on: date, slip: dict[str, str] | None = None) -> bytes:
    forms = []
    for pid in procedure_ids:
        layout = load_layout(pid, catalogue)
        forms.append((layout, prepare_values(layout.procedure, data, catalogue)))
    if slip is not None:
        forms.append((slip_layout(catalogue), {}))
    return _render_forms(forms, application_id, catalogue, on, slip)


def _render_forms(forms: list[tuple[Layout, dict[str, Any]]], application_id: str | None, catalogue: Catalogue,
                  on: date, slip: dict[str, str] | None = None) -> bytes:
    with _render_lock:
        buf = io.BytesIO()
        first = forms[0][0]
        c = Canvas(buf, pagesize=(first.page_w * MM, first.page_h * MM), pageCompression=1,
                   initialFontName=initial_font())  # type: ignore[arg-type]  # the stub says float
        c.setTitle(" / ".join(layout.title for layout, _ in forms))
        c.setAuthor("madoguchi")
        c.setCreator("madoguchi")
        names: dict[int, str] = {}
        for layout, values in forms:
            ctx = Ctx(catalogue, layout.procedure, values, application_id, on, layout.style, slip=slip or {})
            c.setPageSize((layout.page_w * MM, layout.page_h * MM))
            bg = background_page(layout, catalogue)
            name = names.setdefault(id(bg), f"mdgBackground{len(names)}")
            bg.place(c, name)                  # the blank form first, values over it
            pen = Pen(c, layout.page_h)
            for f in layout.fields:
                f.draw(pen, ctx)
            c.showPage()
            for f in layout.fields:
                if isinstance(f, HouseholdField):
                    _continuation(c, layout, f, ctx)
        c.save()
        return buf.getvalue()


def _continuation(c: Canvas, layout: Layout, table: HouseholdField, ctx: Ctx) -> None:
    """別紙: the rows a table had no room for, with the same columns, the form's title and code."""
    rest = table.overflow(ctx)
    if not rest:
        return
    per_page = max(1, int((CONTINUATION_BOTTOM - CONTINUATION_TOP - table.header_h) // table.row_h))
    chunks = [rest[i:i + per_page] for i in range(0, len(rest), per_page)]
    qr = next((f for f in layout.fields if isinstance(f, QrField)), None)
    for n, chunk in enumerate(chunks, 1):
        c.setPageSize((layout.page_w * MM, layout.page_h * MM))
        pen = Pen(c, layout.page_h)
        heading = f"{layout.title}（別紙 {n}/{len(chunks)}）"
        pen.text(heading, Box(15, 14, layout.page_w - 70, 10), style="gothic", size=15, field="continuation")
        label = table.header or "世帯員"
        pen.text(f"{label}（続き）", Box(15, CONTINUATION_TOP - 8, layout.page_w - 30, 6), style="gothic", size=10,
                 field="continuation")
        if qr is not None:
            qr_here = QrField({"type": "qr", "x": layout.page_w - 15 - qr.w, "y": 10.0, "w": qr.w}, qr.where,
                              layout.procedure, ctx.catalogue, layout.style)
            qr_here.frame(pen, ctx)
            qr_here.draw(pen, ctx)
        first_index = table.rows + (n - 1) * per_page
        table.draw_continuation(pen, chunk, first_index, CONTINUATION_TOP, ctx, left=(layout.page_w - table.w) / 2)
        c.showPage()


# ------------------------------------------------------------------------------ backgrounds

_backgrounds: dict[tuple, ImportedPage] = {}


def background_page(layout: Layout, catalogue: Catalogue) -> ImportedPage:
    """The layout's blank form, read once with pypdf and checked against the layout's page."""
    pdf = background_pdf(layout, catalogue)
    key = (str(layout.path), layout.background_page, hash(pdf), len(pdf))
    bg = _backgrounds.get(key)
    if bg is not None:
        return bg
    try:
        bg = ImportedPage(pdf, layout.background_page)
    except IndexError:
        raise LayoutError(f"{layout.path}: background has no page {layout.background_page}") from None
    except Exception as e:  # pypdf raises many kinds for a damaged file
        raise LayoutError(f"{layout.path}: background is not a readable PDF ({type(e).__name__})") from None
    if bg.rotation:
        raise LayoutError(f"{layout.path}: background page is rotated; save it upright")
    w_mm, h_mm = bg.size[0] / MM, bg.size[1] / MM
    if abs(w_mm - layout.page_w) > 1.5 or abs(h_mm - layout.page_h) > 1.5:
        raise LayoutError(f"{layout.path}: background is {w_mm:.0f}×{h_mm:.0f} mm, the layout's page "
                          f"{layout.page_w:.0f}×{layout.page_h:.0f} mm")
    if len(_backgrounds) > 64:
        _backgrounds.clear()
    _backgrounds[key] = bg
    return bg
