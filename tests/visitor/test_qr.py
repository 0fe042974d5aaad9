"""Server-rendered QR codes: full QR symbols that decode back to the token."""

from __future__ import annotations

import numpy as np
import zxingcpp  # the device extra, which `make test` installs

from backend.visitor.qr import QUIET_ZONE, qr_matrix, qr_svg

TOKEN = "0123456789" * 9 + "012345678"  # the token's form: 99 digits


def _image(matrix: list[list[bool]], scale: int = 6) -> np.ndarray:
    modules = np.array(matrix, dtype=bool)
    pixels = np.where(modules, 0, 255).astype(np.uint8)
    return np.kron(pixels, np.ones((scale, scale), dtype=np.uint8))


def test_token_qr_decodes_back_to_the_token_as_a_full_qr_code() -> None:
    assert len(TOKEN) == 99
    matrix = qr_matrix(TOKEN)
    assert len(matrix) == 29 + 2 * QUIET_ZONE  # version 3: numeric mode at level M
    results = zxingcpp.read_barcodes(_image(matrix))
    assert [r.text for r in results] == [TOKEN]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode  # never Micro QR


def test_short_text_still_makes_a_full_qr_code() -> None:
    results = zxingcpp.read_barcodes(_image(qr_matrix("A1")))
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode


def test_matrix_has_the_quiet_zone() -> None:
    matrix = qr_matrix(TOKEN)
    for row in matrix[:QUIET_ZONE] + matrix[-QUIET_ZONE:]:
        assert not any(row)
    assert all(not any(row[:QUIET_ZONE]) and not any(row[-QUIET_ZONE:]) for row in matrix)


def test_svg_is_labelled_for_screen_readers_and_escapes_the_label() -> None:
    svg = str(qr_svg(TOKEN, label='QR "code" <for> the camera'))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert 'aria-label="QR &#34;code&#34; &lt;for&gt; the camera"' in svg
    assert "<script" not in svg and "style=" not in svg
