"""Errors of the form renderer. Messages name fields and characters, never values."""
from __future__ import annotations

from core.errors import MadoguchiError


class MissingGlyph(MadoguchiError):
    """No embedded font can draw a character; printing it would give 〓, a blank or a box."""

    code = "missing_glyph"

    def __init__(self, character: str, field: str):
        self.character = character
        self.field = field
        codes = " ".join(f"U+{ord(c):04X}" for c in character)
        super().__init__(f"no font has a glyph for {codes} ({character}) in field {field}",
                         character=character, field=field)


class MalformedValue(MadoguchiError):
    """A value the form cannot print as it is (not a date, too many digits, too long for its box…)."""

    code = "malformed_value"

    def __init__(self, field: str, reason: str, message: str | None = None):
        self.field = field
        self.reason = reason
        super().__init__(message or f"malformed value in field {field}: {reason}", field=field, reason=reason)


class LayoutError(MadoguchiError):
    """A layout file (or its background) that cannot be used; names the file and the entry."""

    code = "layout_invalid"


class FontMissing(MadoguchiError):
    code = "font_missing"
