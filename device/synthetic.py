"""Synthetic camera frames: a phone screen showing a QR code, seen by a 640x480 camera.

Used by the simulated camera, the tests and the decode benchmark. Each frame gets a
random pose (perspective), blur, screen glare, exposure change and sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import segno

Frame = np.ndarray


@dataclass(frozen=True)
class Conditions:
    """How hard a frame is: ranges the random pose and degradations are drawn from."""

    phone_height: tuple[float, float] = (0.62, 0.95)  # share of the frame height
    tilt: float = 0.10  # perspective skew as a share of the phone size
    rotation_deg: float = 12.0
    blur_sigma: tuple[float, float] = (0.0, 1.2)
    glare: float = 0.55  # strongest glare blend
    noise_sigma: tuple[float, float] = (2.0, 9.0)


def qr_matrix(payload: str) -> np.ndarray:
    """The QR module matrix (True = dark) with its 4-module quiet zone; always full QR."""
    symbol = segno.make_qr(payload, error="m")
    rows = [list(row) for row in symbol.matrix_iter(scale=1, border=4)]
    return np.array(rows, dtype=bool)


def qr_image(payload: str, module_px: int = 8) -> Frame:
    """A clean black-on-white QR image (grey, uint8)."""
    matrix = qr_matrix(payload)
    image = np.where(matrix, 0, 255).astype(np.uint8)
    return cv2.resize(image, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


def phone_screen(payload: str, rng: np.random.Generator) -> Frame:
    """A phone in portrait (BGR): dark body, lit screen, a caption bar and the QR code."""
    qr = qr_image(payload, module_px=8)
    side = qr.shape[0]
    width, height = side + 80, int((side + 80) * 1.9)
    phone = np.full((height, width, 3), 25, dtype=np.uint8)
    screen_level = int(rng.integers(215, 256))
    cv2.rectangle(phone, (14, 40), (width - 15, height - 41), (screen_level,) * 3, -1)
    # A coloured header and a few lines of "text", as a real token page has.
    cv2.rectangle(phone, (14, 40), (width - 15, 120), (60, 140, 40), -1)
    for i in range(4):
        y = 150 + i * 22
        cv2.rectangle(phone, (40, y), (width - 40 - 30 * i, y + 8), (120, 120, 120), -1)
    top = (height - side) // 2 + 40
    left = (width - side) // 2
    qr_bgr = cv2.cvtColor(qr, cv2.COLOR_GRAY2BGR)
    phone[top : top + side, left : left + side] = np.minimum(qr_bgr, screen_level)
    return phone


def _background(rng: np.random.Generator, width: int, height: int) -> Frame:
    base = rng.integers(60, 170, size=3).astype(np.float32)
    ramp = np.linspace(0.8, 1.15, width, dtype=np.float32)[None, :, None]
    frame: Frame = np.clip(np.ones((height, width, 3), np.float32) * base * ramp, 0, 255)
    return frame.astype(np.uint8)


def _pose(
    rng: np.random.Generator, size: tuple[int, int], frame: tuple[int, int], cond: Conditions
) -> np.ndarray:
    """A homography placing a w x h phone image somewhere inside the camera frame."""
    w, h = size
    fw, fh = frame
    target_h = fh * rng.uniform(*cond.phone_height)
    scale = target_h / h
    tw, th = w * scale, h * scale
    cx = rng.uniform(tw / 2, max(tw / 2, fw - tw / 2))
    cy = rng.uniform(th / 2 + 0.0, max(th / 2, fh - th / 2))
    angle = np.deg2rad(rng.uniform(-cond.rotation_deg, cond.rotation_deg))
    corners = np.array([[-tw / 2, -th / 2], [tw / 2, -th / 2], [tw / 2, th / 2], [-tw / 2, th / 2]])
    corners += rng.uniform(-cond.tilt, cond.tilt, size=(4, 2)) * np.array([tw, th])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = corners @ rot.T + np.array([cx, cy])
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    return cv2.getPerspectiveTransform(source, placed.astype(np.float32))


def _glare(rng: np.random.Generator, frame: np.ndarray, strength: float) -> np.ndarray:
    height, width = frame.shape[:2]
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    radius = rng.uniform(0.15, 0.4) * width
    ys, xs = np.ogrid[:height, :width]
    falloff = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius**2)))
    blend = (strength * falloff)[..., None]
    lit: np.ndarray = frame * (1 - blend) + 255.0 * blend
    return lit


def camera_frame(
    payload: str | None,
    rng: np.random.Generator,
    *,
    conditions: Conditions | None = None,
    size: tuple[int, int] = (640, 480),
) -> Frame:
    """A BGR camera frame, with a phone showing ``payload`` as a QR code (or an empty scene)."""
    cond = conditions or Conditions()
    width, height = size
    frame = _background(rng, width, height)
    if payload is not None:
        phone = phone_screen(payload, rng)
        matrix = _pose(rng, (phone.shape[1], phone.shape[0]), size, cond)
        warped = cv2.warpPerspective(phone, matrix, size, flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(
            np.full(phone.shape[:2], 255, np.uint8), matrix, size, flags=cv2.INTER_LINEAR
        )
        frame = np.where(mask[..., None] > 127, warped, frame)
    image: np.ndarray = frame.astype(np.float32)
    if rng.random() < 0.7:
        image = _glare(rng, image, rng.uniform(min(0.15, cond.glare), cond.glare))
    image = image * rng.uniform(0.7, 1.15) + rng.uniform(-20, 20)
    sigma = rng.uniform(*cond.blur_sigma)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image += rng.normal(0, rng.uniform(*cond.noise_sigma), image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)
