"""Server-rendered QR codes as inline SVG (full QR, never Micro QR)."""

from __future__ import annotations

import qrcode
import qrcode.constants
from markupsafe import Markup, escape

# Four modules of quiet zone: the QR standard's minimum, which camera decoders rely on.
QUIET_ZONE = 4


def qr_matrix(text: str) -> list[list[bool]]:
    """The module matrix of ``text`` (quiet zone included), error correction level M."""
    # qrcode only ever makes full QR symbols; 99-digit tokens use its numeric mode.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    code.add_data(text)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    return matrix


def _path(matrix: list[list[bool]]) -> str:
    """One SVG path drawing each horizontal run of dark modules as a rectangle."""
    parts: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return "".join(parts)


def qr_svg(text: str, *, label: str) -> Markup:
    """An accessible inline SVG of ``text`` as a QR code; ``label`` is read by screen readers."""
    matrix = qr_matrix(text)
    size = len(matrix)
    # Safe: the label is escaped and everything else is generated here from numbers.
    return Markup(  # noqa: S704
        '<svg xmlns="http://www.w3.org/2000/svg" class="qr" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {size} {size}" '
        'shape-rendering="crispEdges" focusable="false">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{_path(matrix)}"/></svg>'
    )
