"""QR decoding of camera frames with zxing-cpp: a fast read, then a recovery cascade.

The fast read handles almost every ordinary frame in well under a millisecond. When it
finds nothing, the cascade looks for code-like regions (device.qr_regions) and, only
there, tries the recoveries that address why phone codes fail on a camera: too few
pixels per module (enlarge), a motion streak (deconvolve along it) and a glare spot
(local contrast normalisation). A frame with no code-like region costs the fast read
and the region search only. docs/qr.md has the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from device import qr_regions

Frame = np.ndarray

DEFAULT_BUDGET_MS = 35.0  # no recovery starts once a frame has cost this much


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


@dataclass
class Trace:
    """What the cascade did with one frame: each stage run, its time, and which one won."""

    stages: list[tuple[str, float]] = field(default_factory=list)
    winner: str | None = None

    def total_ms(self) -> float:
        """The frame's whole decode time."""
        return sum(ms for _, ms in self.stages)


def _enlarge_factor(crop: Frame) -> float:
    # About 480 px across gives even a 2-px-a-module code 6+ px modules; never shrink.
    return float(np.clip(480 / max(crop.shape[:2]), 1.5, 3.0))


def _enlarged(crop: Frame) -> Frame:
    return qr_regions.upscale(crop, _enlarge_factor(crop))


def _deblurred(crop: Frame) -> Frame | None:
    angle, anisotropy = qr_regions.motion_direction(crop)
    if anisotropy < 0.15:
        return None  # no dominant streak direction: deconvolution would only add ringing
    length = qr_regions.motion_length(crop, angle)
    if length < 3:
        return None
    # Deconvolve at the camera's own scale (a small FFT), then enlarge like the others.
    return _enlarged(qr_regions.deblur(crop, length, angle))


def _normalised(crop: Frame) -> Frame:
    return qr_regions.upscale(qr_regions.normalise_contrast(crop), _enlarge_factor(crop))


# name, image transform (a None result: the stage does not apply to this crop). A fourth
# stage, zxing-cpp's GlobalHistogram binarizer on the enlarged crop, won no frame that the
# others missed (docs/qr.md) and was dropped.
_RECOVERIES: list[tuple[str, Callable[[Frame], Frame | None]]] = [
    ("enlarge", _enlarged),
    ("deblur", _deblurred),
    ("contrast", _normalised),
]
RECOVERY_STAGES = tuple(name for name, _ in _RECOVERIES)


def to_gray(frame: Frame) -> Frame:
    """Return a single-channel 8-bit view of a BGR or grey frame."""
    if frame.ndim == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame


def decode_all(
    frame: Frame,
    *,
    recover: bool = True,
    stages: tuple[str, ...] = RECOVERY_STAGES,
    budget_ms: float = DEFAULT_BUDGET_MS,
    trace: Trace | None = None,
) -> list[str]:
    """Every QR payload in the frame: the fast read, then (if empty) the recovery cascade."""
    trace = trace if trace is not None else Trace()
    started = time.perf_counter()
    gray = to_gray(frame)
    payloads = _read(gray)
    trace.stages.append(("fast", (time.perf_counter() - started) * 1000))
    if payloads:
        trace.winner = "fast"
        return payloads
    if not recover or not stages:
        return []
    mark = time.perf_counter()
    regions = qr_regions.code_regions(gray)
    trace.stages.append(("regions", (time.perf_counter() - mark) * 1000))
    crops = [region.crop(gray) for region in regions]
    for name, transform in _RECOVERIES:
        if name not in stages:
            continue
        for crop in crops:
            if (time.perf_counter() - started) * 1000 > budget_ms:
                return []
            mark = time.perf_counter()
            image = transform(crop)
            payloads = _read(image) if image is not None else []
            trace.stages.append((name, (time.perf_counter() - mark) * 1000))
            if payloads:
                trace.winner = name
                return payloads
    return []


def decode_frame(frame: Frame, *, recover: bool = True) -> str | None:
    """The first QR payload found in the frame, or None."""
    payloads = decode_all(frame, recover=recover)
    return payloads[0] if payloads else None


def decode_image_file(path: Path | str) -> list[str]:
    """Every QR payload in an image file; raises ImageUnreadable for a non-image."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageUnreadable(f"{path} is not an image this program can read")
    return decode_all(image)
