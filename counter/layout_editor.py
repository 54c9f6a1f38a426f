"""The layout editor (/counter/admin/layouts, administrators): a procedure's form page with its
fields as boxes to drag and resize, a preview with the sample application, saving into the
site folder (with an admin-log entry) and importing the city's blank form PDF.

The page works through small JSON and PNG answers; every refusal is a 400 with a message in
the clerk's language. What a layout may be is decided by printing.layout_edit."""
from __future__ import annotations

import logging

from flask import abort, g, jsonify, make_response, render_template, request, url_for
from flask_babel import gettext as _

from core import admin_log
from core.catalogue import Procedure, forget_loaded_catalogues, get_catalogue
from core.errors import NotFound
from core.json_input import BadJSON, loads
from core.site import current_site
from core.users import Role
from counter.auth import current_clerk, requires
from counter.blueprint import bp
from printing.errors import LayoutError, MalformedValue, MissingGlyph
from printing.fields import FIELD_TYPES
from printing.form_import import FormImportError, install_background, read_blank_form
from printing.layout import PAGE_SIZES, load_layout
from printing.layout_edit import (
    current_table,
    field_keys,
    render_table,
    save_table,
    sources_for,
    where_saved,
)
from printing.layout_file import digest
from printing.raster import RasterError, page_png
from web import get_db

log = logging.getLogger("madoguchi.counter")
MAX_PDF_BYTES = 8 * 1024 * 1024
MAX_LAYOUT_BYTES = 256 * 1024
PREVIEW_DPI = 60


def _procedure(procedure_id: str) -> Procedure:
    try:
        return get_catalogue().get(procedure_id)
    except NotFound:
        abort(404)


def _refusal(message: str, code: str, status: int = 400):
    return make_response(jsonify({"error": code, "message": message}), status)


def _layout_refusal(e: LayoutError):
    problem = str(e)
    messages = {
        "not_layout": _("That is not a layout: %(problem)s", problem=problem),
        "bad_background": _("The background must be a PDF in the site folder's backgrounds folder."),
        "no_site": _("There is no site folder to save into: set [site].folder in the configuration."),
        "layout_problem": _("A field is off the page or over another field: %(problem)s", problem=problem),
        "off_page": _("A field is off the page or over another field: %(problem)s", problem=problem),
    }
    return _refusal(messages.get(e.code, _("The layout has a problem: %(problem)s", problem=problem)), e.code)


def _sent_layout() -> dict:
    """The layout table in the request's JSON body ({"layout": {...}}); raises _Refused."""
    if (request.content_length or 0) > MAX_LAYOUT_BYTES:
        raise _Refused(_("The layout is too large."), "too_large")
    try:
        body = loads(request.get_data(cache=False))
    except BadJSON:
        raise _Refused(_("The editor sent something that is not a layout (not JSON)."), "bad_json") from None
    if not isinstance(body, dict) or not isinstance(body.get("layout"), dict):
        raise _Refused(_("That is not a layout: %(problem)s", problem="{\"layout\": {...}} expected"), "not_layout")
    return body["layout"]


class _Refused(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


# --- pages ---------------------------------------------------------------------------------

@bp.get("/admin/layouts")
@requires(Role.ADMIN)
def layouts_page():
    catalogue = get_catalogue()
    rows = []
    site_layouts = current_site().layouts_dir
    for pid, proc in catalogue.procedures.items():
        try:
            layout = load_layout(pid, catalogue)
        except (LayoutError, UnicodeDecodeError):    # parse_layout reads a non-UTF-8 file as text
            rows.append({"id": pid, "title": proc.title(g.lang), "where": None, "background": None, "broken": True})
            continue
        in_site = site_layouts is not None and layout.path.parent == site_layouts
        rows.append({"id": pid, "title": proc.title(g.lang), "where": "site" if in_site else "builtin",
                     "background": layout.background.name if layout.background else None, "broken": False})
    return render_template("counter/layouts.html", rows=rows)


@bp.get("/admin/layouts/<procedure_id>")
@requires(Role.ADMIN)
def layout_editor(procedure_id):
    proc = _procedure(procedure_id)
    catalogue = get_catalogue()
    unreadable = None
    try:
        raw, _path, data = current_table(proc)
    except LayoutError as e:
        raw, data = {"page": "A4", "fields": []}, b""
        unreadable = str(e) if e.code == "layout_unreadable" else None
    editor = {
        "procedure": proc.id, "layout": raw, "sha256": digest(data) if data else "",
        "page_sizes": PAGE_SIZES, "field_types": list(FIELD_TYPES), "field_keys": field_keys(),
        "sources": sources_for(proc, catalogue),
        "urls": {"render": url_for("counter.layout_render", procedure_id=proc.id),
                 "save": url_for("counter.layout_save", procedure_id=proc.id),
                 "import": url_for("counter.layout_import", procedure_id=proc.id)},
        "max_pdf_bytes": MAX_PDF_BYTES,
        "texts": {
            "no_source": _("(no source)"),
            "failed": _("That did not work; nothing was saved."),
            "network": _("The server could not be reached; nothing was lost. Try again."),
            "choose_file": _("Choose a PDF file first."),
            "too_large": _("Choose a PDF of at most %(mb)d MB.", mb=MAX_PDF_BYTES // (1024 * 1024)),
            "saving": _("Saving…"), "importing": _("Reading the blank form…"),
            "rendering": _("Drawing the preview…"), "rendered": _("Preview drawn."),
        },
    }
    history = list(admin_log.entries(get_db(), target=proc.id, limit=5))
    return render_template("counter/layout_editor.html", proc=proc, editor=editor, history=history,
                           unreadable=unreadable)


# --- JSON and PNG answers ----------------------------------------------------------------------

@bp.post("/admin/layouts/<procedure_id>/render")
@requires(Role.ADMIN)
def layout_render(procedure_id):
    """PNG of one page: the blank form (`kind=blank`) or the sample application (`kind=sample`);
    the number of pages in X-Pages."""
    proc = _procedure(procedure_id)
    kind = request.args.get("kind", "blank")
    page = request.args.get("page", "1")
    if kind not in ("blank", "sample") or not (page.isascii() and page.isdigit() and 1 <= int(page) <= 50):
        return _refusal(_("Choose the blank form or the sample, and a page number."), "bad_request")
    try:
        raw = _sent_layout()
        pdf = render_table(raw, proc, get_catalogue(), sample=kind == "sample")
    except _Refused as e:
        return _refusal(e.message, e.code)
    except (MissingGlyph, MalformedValue) as e:
        return _refusal(_("The sample does not fit this layout: %(problem)s", problem=str(e)), e.code)
    except LayoutError as e:
        return _layout_refusal(e)
    pages = _page_count(pdf)
    if int(page) > pages:
        return _refusal(_("The form has %(n)d page(s).", n=pages), "no_page")
    try:
        png = page_png(pdf, int(page), PREVIEW_DPI)
    except RasterError as e:
        log.warning("layout preview of %s not drawn: %s", proc.id, e.code)
        return _refusal(_("The page could not be drawn."), e.code)
    resp = make_response(png)
    resp.headers["Content-Type"] = "image/png"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Pages"] = str(pages)
    return resp


def _page_count(pdf: bytes) -> int:
    import io

    from pypdf import PdfReader
    return len(PdfReader(io.BytesIO(pdf)).pages)


@bp.post("/admin/layouts/<procedure_id>")
@requires(Role.ADMIN)
def layout_save(procedure_id):
    proc = _procedure(procedure_id)
    try:
        raw = _sent_layout()
        path, before, after = save_table(raw, proc, get_catalogue())
    except _Refused as e:
        return _refusal(e.message, e.code)
    except LayoutError as e:
        return _layout_refusal(e)
    forget_loaded_catalogues()   # the catalogue's version names the layouts it was made from
    clerk = current_clerk()
    admin_log.append(get_db(), actor=clerk.actor, action="layout_saved", target=proc.id, before_sha256=before,
                     after_sha256=after)
    log.info("%s saved the layout of %s (%s)", clerk.username, proc.id, after[:12])
    return jsonify({"ok": True, "message": _("Layout saved."), "sha256": after, "file": path.name})


@bp.post("/admin/layouts/<procedure_id>/import")
@requires(Role.ADMIN)
def layout_import(procedure_id):
    """The city's blank form as the request's body (a PDF): put into the site's backgrounds
    folder under a name of its content, and the layout the import proposes for it."""
    proc = _procedure(procedure_id)
    if request.content_length is None or request.content_length > MAX_PDF_BYTES:
        return _refusal(_("Choose a PDF of at most %(mb)d MB.", mb=MAX_PDF_BYTES // (1024 * 1024)), "too_large")
    request.max_content_length = MAX_PDF_BYTES
    pdf = request.get_data(cache=False)
    try:
        proposal = read_blank_form(pdf, get_catalogue(), proc.id)
    except FormImportError as e:
        messages = {"encrypted": _("The PDF is encrypted: save an unprotected copy of the blank form and import "
                                   "that."),
                    "no_pages": _("The PDF has no pages."),
                    "rotated": _("The PDF's page is rotated: save it upright and import it again.")}
        return _refusal(messages.get(e.code, _("That file is not a PDF that can be read.")), e.code)
    try:
        where_saved(proc)
    except LayoutError as e:
        return _layout_refusal(e)
    name = f"{proc.id}-{digest(pdf)[:12]}"
    procedures_dir = current_site().procedures_dir
    assert procedures_dir is not None     # where_saved refused a missing site folder
    installed = install_background(pdf, procedures_dir, name)
    clerk = current_clerk()
    admin_log.append(get_db(), actor=clerk.actor, action="background_imported", target=proc.id,
                     after_sha256=digest(pdf))
    log.info("%s imported a blank form for %s (%s)", clerk.username, proc.id, installed.name)
    if proposal.image_only:
        message = _("The page is a scan (a picture) with no boxes or text to read: it is the background now; "
                    "place the fields by hand.")
    else:
        message = _("Imported: %(n)d field(s) placed from the form's labels.", n=len(proposal.fields))
        labels = [u["label"] for u in proposal.unmatched if u["label"]]
        if proposal.unmatched:
            message += " " + _("%(n)d box(es) have no matching field: %(labels)s", n=len(proposal.unmatched),
                               labels="、".join(labels) or "—")
    layout = proposal.layout(f"backgrounds/{installed.name}")
    return jsonify({"ok": True, "message": message, "layout": layout, "image_only": proposal.image_only,
                    "unmatched": proposal.unmatched})
