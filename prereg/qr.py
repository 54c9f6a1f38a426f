"""The QR code image of a token."""
from __future__ import annotations

import io

import segno


def png(token: str, *, scale: int = 10, border: int = 4) -> bytes:
    """PNG of the token's QR code: alphanumeric mode, error correction Q (a phone screen may
    be scratched or glaring), 4 modules of quiet zone as the standard asks."""
    qr = segno.make(token, error="q", micro=False, boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
