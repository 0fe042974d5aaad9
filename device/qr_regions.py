"""Image work for the QR recovery stages: finding code-like regions, and cleaning them up.

Everything here is cheap OpenCV arithmetic on small crops; decoding stays in device.qr.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Frame = np.ndarray

_SCALE = 2  # regions are searched on a half-size frame
_EDGE_LEVEL = 28  # grey levels between neighbours that count as a module edge
_DENSITY = 0.14  # share of pixels on an edge, both ways, around a point inside a code
_MAX_REGIONS = 2


@dataclass(frozen=True)
class Region:
    """A square-ish area of the frame dense in edges both ways: where a code may be."""

    x: int
    y: int
    width: int
    height: int
    score: float

    def crop(self, gray: Frame, margin: float = 0.15) -> Frame:
        """The region with a margin around it (the code's quiet zone), clipped to the frame."""
        pad = int(max(self.width, self.height) * margin) + 4
        top, left = max(0, self.y - pad), max(0, self.x - pad)
        bottom = min(gray.shape[0], self.y + self.height + pad)
        right = min(gray.shape[1], self.x + self.width + pad)
        return gray[top:bottom, left:right]


def code_regions(gray: Frame, limit: int = _MAX_REGIONS) -> list[Region]:
    """The most code-like regions of a grey frame, best first (at most ``limit``).

    A QR symbol is a block where dark/light edges are dense in both directions; text,
    tiles and stripes are dense in one direction or too thin to be a code.
    """
    small = cv2.resize(gray, None, fx=1 / _SCALE, fy=1 / _SCALE, interpolation=cv2.INTER_AREA)
    small_i = small.astype(np.int16)
    dx = np.abs(np.diff(small_i, axis=1))[:-1, :] > _EDGE_LEVEL
    dy = np.abs(np.diff(small_i, axis=0))[:, :-1] > _EDGE_LEVEL
    window = (9, 9)
    density_x = cv2.blur(dx.astype(np.float32), window)
    density_y = cv2.blur(dy.astype(np.float32), window)
    both = np.minimum(density_x, density_y)
    mask = cv2.morphologyEx(
        (both > _DENSITY).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)
    )
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    regions: list[Region] = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if min(w, h) < 16 or max(w, h) > 4 * min(w, h) or area < 0.35 * w * h:
            continue  # too small for a code at 2 px a module, or a line of text
        score = float(both[y : y + h, x : x + w].mean()) * area
        regions.append(Region(x * _SCALE, y * _SCALE, w * _SCALE, h * _SCALE, score))
    regions.sort(key=lambda region: region.score, reverse=True)
    return regions[:limit]


def upscale(gray: Frame, factor: float) -> Frame:
    """A bicubic enlargement with a light unsharp mask, so 2-px modules get clean edges."""
    big = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    soft = cv2.GaussianBlur(big, (0, 0), factor)
    sharpened: Frame = cv2.addWeighted(big, 2.0, soft, -1.0, 0)
    return sharpened


def normalise_contrast(gray: Frame) -> Frame:
    """Local contrast normalisation (CLAHE): evens out a glare spot across the code."""
    tiles = max(2, min(8, min(gray.shape[:2]) // 32))
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(tiles, tiles))
    out: Frame = clahe.apply(gray)
    return out


def motion_direction(gray: Frame) -> tuple[float, float]:
    """The direction of a motion blur (degrees) and how sure we are (0 = no preference).

    A streak smears edges along its own direction only, so the gradient energy along it
    drops: the weak axis of the structure tensor is the streak's direction.
    """
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    a, b, c = float((gx * gx).mean()), float((gx * gy).mean()), float((gy * gy).mean())
    spread = float(np.hypot(a - c, 2 * b))
    if a + c <= 0:
        return 0.0, 0.0
    # Angle of the strongest gradient; the streak runs at right angles to it.
    strong = 0.5 * np.degrees(np.arctan2(2 * b, a - c))
    return float((strong + 90.0) % 180.0), spread / (a + c)


def motion_length(gray: Frame, angle_deg: float, longest: int = 10) -> int:
    """Estimate a streak's length: the lag where the derivative along it anti-correlates.

    Blurring a step with a box of length L turns its derivative into two opposite
    spikes L apart, so the derivative's autocorrelation along the streak dips at lag L.
    """
    g = gray.astype(np.float32)
    rad = np.deg2rad(angle_deg)
    kx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    ky = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    d = kx * np.cos(rad) + ky * np.sin(rad)
    d -= d.mean()
    energy = float((d * d).mean()) or 1.0
    best_lag, best_value = 0, 0.0
    height, width = d.shape
    for lag in range(2, longest + 1):
        sx, sy = round(float(lag * np.cos(rad))), round(float(lag * np.sin(rad)))
        y0, y1 = max(0, -sy), height - max(0, sy)
        x0, x1 = max(0, -sx), width - max(0, sx)
        if y1 - y0 < 8 or x1 - x0 < 8:
            break
        a, b = d[y0:y1, x0:x1], d[y0 + sy : y1 + sy, x0 + sx : x1 + sx]
        value = float((a * b).mean()) / energy
        if value < best_value:
            best_lag, best_value = lag, value
    return best_lag


def deblur(gray: Frame, length: float, angle_deg: float, snr: float = 0.01) -> Frame:
    """Wiener deconvolution of a straight motion streak of ``length`` px at ``angle_deg``."""
    kernel = streak_kernel(length, angle_deg)
    height, width = gray.shape
    padded = np.zeros((height, width), np.float32)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    padded = np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    spectrum = np.fft.rfft2(padded)
    image = np.fft.rfft2(gray.astype(np.float32))
    restored = np.fft.irfft2(
        image * np.conj(spectrum) / (np.abs(spectrum) ** 2 + snr), s=gray.shape
    )
    out: Frame = np.clip(restored, 0, 255).astype(np.uint8)
    return out


def streak_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised straight-line blur kernel ``length`` pixels long at ``angle_deg``."""
    size = max(3, int(np.ceil(length)) | 1)
    kernel = np.zeros((size, size), np.float32)
    centre = (size - 1) / 2
    dx, dy = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, max(2, int(length * 4))):
        x, y = centre + t * dx, centre + t * dy
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for xi, yi, weight in (
            (x0, y0, (1 - fx) * (1 - fy)),
            (x0 + 1, y0, fx * (1 - fy)),
            (x0, y0 + 1, (1 - fx) * fy),
            (x0 + 1, y0 + 1, fx * fy),
        ):
            if 0 <= xi < size and 0 <= yi < size:
                kernel[yi, xi] += weight
    kernel /= kernel.sum()
    return kernel
