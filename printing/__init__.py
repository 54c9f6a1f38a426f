"""Printed application forms: layouts as data, one renderer, every character printed.

    printing.render_form(procedure_id, data, application_id=None) -> bytes
    printing.render_application(json_form, application_id=None) -> bytes
    printing.MissingGlyph (code "missing_glyph", .character, .field)
    printing.MalformedValue (code "malformed_value", .field)

Layouts live next to their procedure: core/procedures/layouts/<id>.toml (format in
core/procedures/layouts/README.md). Printing itself is hardware.printer.
"""
from printing.errors import FontMissing, LayoutError, MalformedValue, MissingGlyph
from printing.render import render_application, render_form

__all__ = ["render_form", "render_application", "MissingGlyph", "MalformedValue", "LayoutError", "FontMissing"]
