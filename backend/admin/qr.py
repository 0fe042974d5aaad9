"""QR codes drawn on the server, as data URIs (no third-party request)."""

from __future__ import annotations

import segno


def qr_data_uri(text: str, *, scale: int = 6) -> str:
    """An SVG data URI of a full QR code of ``text`` (never Micro QR: cameras miss it)."""
    code = segno.make(text, micro=False, error="m")
    return str(code.svg_data_uri(scale=scale, border=4))
