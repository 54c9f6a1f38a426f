"""The QR code image of a token (or of the status URL holding it)."""
from __future__ import annotations

import io

import segno


def png(text: str, *, scale: int = 10, border: int = 4) -> bytes:
    """PNG of the QR code of a token or its upper-case URL: alphanumeric mode, error correction Q (a phone screen may
    be scratched or glaring), 4 modules of quiet zone as the standard asks."""
    qr = segno.make(text, error="q", micro=False, boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
