"""QR decoding of camera frames with zxing-cpp (OpenCV only converts and scales)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import zxingcpp

Frame = np.ndarray


class ImageUnreadable(ValueError):
    """The file is not an image OpenCV can read."""


# QR Model 2 only: in zxing-cpp 3.x `QRCode` is a family that also matches Micro QR and
# rMQR, and a false Micro QR read in a frame's texture once hid the visitor's real code.
_QR_MODEL_2 = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCodeModel2)


def _read(gray: Frame) -> list[str]:
    # The phone page never shows inverted codes, and a QR finder works at any rotation:
    # the rotate and invert passes only cost time; the downscale pass never won a frame.
    results = zxingcpp.read_barcodes(
        gray,
        formats=_QR_MODEL_2,
        try_rotate=False,
        try_invert=False,
        try_downscale=False,
    )
    return [str(result.text) for result in results if result.text]


def to_gray(frame: Frame) -> Frame:
    """Return a single-channel 8-bit view of a BGR or grey frame."""
    if frame.ndim == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame


def decode_all(frame: Frame, *, upscale_retry: bool = True) -> list[str]:
    """Every QR payload in the frame; retries once on a 2x upscaled frame if none is found."""
    gray = to_gray(frame)
    payloads = _read(gray)
    if not payloads and upscale_retry:
        # Small or soft symbols decode noticeably more often at twice the size (measured).
        bigger = cv2.resize(gray, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)
        payloads = _read(bigger)
    return payloads


def decode_frame(frame: Frame, *, upscale_retry: bool = True) -> str | None:
    """The first QR payload found in the frame, or None."""
    payloads = decode_all(frame, upscale_retry=upscale_retry)
    return payloads[0] if payloads else None


def decode_image_file(path: Path | str) -> list[str]:
    """Every QR payload in an image file; raises ImageUnreadable for a non-image."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageUnreadable(f"{path} is not an image this program can read")
    return decode_all(image)
