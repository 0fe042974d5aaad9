"""Synthetic camera frames: a phone screen showing a QR code, seen by a 640x480 camera.

Used by the simulated camera, the tests and the decode benchmark. Each frame gets a
random pose (perspective), blur, screen glare, exposure change and sensor noise; the
named condition sets in ``CONDITION_SETS`` add the hard cases a real dispenser meets:
small far-away codes (2-3.5 px per module), motion blur up to 8 px, strong glare, JPEG
compression, and busy backgrounds with no code at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import segno

from device.qr_regions import streak_kernel

Frame = np.ndarray
Range = tuple[float, float]


@dataclass(frozen=True)
class Conditions:
    """How hard a frame is: ranges the random pose and degradations are drawn from.

    With ``code_px`` unset the phone fills ``phone_height`` of the frame (the default,
    easy set); with it set, the code's width on the sensor is drawn from that range, so
    the module size follows from the symbol's module count.
    """

    phone_height: Range = (0.62, 0.95)  # share of the frame height
    code_px: Range | None = None  # width of the code (without quiet zone) in pixels
    tilt: float = 0.10  # perspective skew as a share of the phone size
    rotation_deg: float = 12.0
    blur_sigma: Range = (0.0, 1.2)  # focus blur
    motion_px: Range = (0.0, 0.0)  # length of a straight motion-blur streak
    glare: float = 0.55  # strongest glare blend
    glare_floor: float = 0.15  # weakest glare blend, when there is glare
    glare_chance: float = 0.7
    noise_sigma: Range = (2.0, 9.0)
    jpeg_quality: Range | None = None  # None: no JPEG round trip
    busy_background: float = 0.0  # chance of a cluttered wall behind the phone


# The named sets the benchmark reports on. Every set but "empty" carries the token
# symbol; sizes are the code's width on the sensor, so a 41-module symbol at 90-140 px
# has 2.2-3.4 px per module. Every frame gets some optical softness (no camera is sharp
# to the pixel), a JPEG round trip and, on half of them, a cluttered wall behind.
_CAMERA = Conditions(
    tilt=0.12,
    rotation_deg=20.0,
    blur_sigma=(0.3, 1.3),
    motion_px=(0.0, 7.0),
    glare=0.7,
    noise_sigma=(2.0, 10.0),
    jpeg_quality=(60.0, 92.0),
    busy_background=0.5,
)
ORDINARY = replace(_CAMERA, code_px=(140, 250))
SMALL = replace(_CAMERA, code_px=(90, 140))
BLUR = replace(_CAMERA, code_px=(140, 250), motion_px=(5.0, 8.0))
GLARE = replace(_CAMERA, code_px=(140, 250), glare=0.95, glare_floor=0.7, glare_chance=1.0)
EMPTY = replace(_CAMERA, busy_background=1.0)

# name -> (conditions, whether the frames carry a code)
CONDITION_SETS: dict[str, tuple[Conditions, bool]] = {
    "ordinary": (ORDINARY, True),
    "small": (SMALL, True),
    "blur": (BLUR, True),
    "glare": (GLARE, True),
    "empty": (EMPTY, False),
}


def qr_matrix(payload: str, error: str = "m") -> np.ndarray:
    """The QR module matrix (True = dark) with its 4-module quiet zone; always full QR."""
    symbol = segno.make_qr(payload, error=error)
    rows = [list(row) for row in symbol.matrix_iter(scale=1, border=4)]
    return np.array(rows, dtype=bool)


def qr_image(payload: str, module_px: int = 8, error: str = "m") -> Frame:
    """A clean black-on-white QR image (grey, uint8)."""
    matrix = qr_matrix(payload, error)
    image = np.where(matrix, 0, 255).astype(np.uint8)
    return cv2.resize(image, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


MODULE_PX = 8  # module size on the drawn phone screen, before the camera sees it


def phone_screen(
    payload: str, rng: np.random.Generator, error: str = "m"
) -> tuple[Frame, tuple[float, float, float]]:
    """A phone in portrait (BGR) and where its code sits: (centre x, centre y, code width)."""
    qr = qr_image(payload, module_px=MODULE_PX, error=error)
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
    code_width = side - 8 * MODULE_PX
    return phone, (left + side / 2, top + side / 2, float(code_width))


def _background(rng: np.random.Generator, width: int, height: int, busy: bool) -> Frame:
    base = rng.integers(60, 170, size=3).astype(np.float32)
    ramp = np.linspace(0.8, 1.15, width, dtype=np.float32)[None, :, None]
    row = np.clip(base * ramp, 0, 255).astype(np.uint8)
    frame: Frame = np.ascontiguousarray(np.broadcast_to(row, (height, width, 3)))
    if busy:
        _clutter(rng, frame)
    return frame


def _clutter(rng: np.random.Generator, frame: Frame) -> None:
    """Draw a cluttered wall in place: tiles, posters, signs with text, stripes, cables."""
    height, width = frame.shape[:2]
    if rng.random() < 0.5:  # tiled wall
        step = int(rng.integers(24, 70))
        grout = tuple(int(v) for v in rng.integers(30, 230, size=3))
        for x in range(int(rng.integers(0, step)), width, step):
            cv2.line(frame, (x, 0), (x, height), grout, int(rng.integers(1, 4)))
        for y in range(int(rng.integers(0, step)), height, step):
            cv2.line(frame, (0, y), (width, y), grout, int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(3, 9))):  # posters and signs, some with text
        x, y = int(rng.integers(-50, width)), int(rng.integers(-50, height))
        w, h = int(rng.integers(30, 220)), int(rng.integers(20, 200))
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, -1)
        ink = tuple(255 - c for c in colour)
        for line in range(int(rng.integers(0, 6))):
            text = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789 "), size=12))
            cv2.putText(frame, text, (x + 4, y + 18 + 16 * line), 0, 0.5, ink, 1, cv2.LINE_AA)
    if rng.random() < 0.4:  # a striped or checked pattern (fabric, a grille)
        x, y = int(rng.integers(0, width - 80)), int(rng.integers(0, height - 80))
        cell = int(rng.integers(3, 10))
        size = int(rng.integers(60, 180))
        ys, xs = np.mgrid[0:size, 0:size]
        if rng.random() < 0.5:
            pattern = ((xs // cell + ys // cell) % 2).astype(bool)
        else:
            pattern = ((xs // cell) % 2).astype(bool)
        patch = frame[y : y + size, x : x + size]
        patch[pattern[: patch.shape[0], : patch.shape[1]]] = 20
    for _ in range(int(rng.integers(0, 4))):  # cables, edges of fittings
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(frame, p1, p2, (int(rng.integers(0, 80)),) * 3, int(rng.integers(1, 6)))


def _pose(
    rng: np.random.Generator,
    phone: tuple[int, int],
    code: tuple[float, float, float],
    frame: tuple[int, int],
    cond: Conditions,
) -> np.ndarray:
    """A homography placing a w x h phone image so that its code (or all of it) is in view.

    With ``code_px`` set the phone image is expected at its final scale already (drawn
    down with area averaging, as a sensor integrates light), so only pose is added here.
    """
    w, h = phone
    fw, fh = frame
    code_x, code_y, code_w = code
    if cond.code_px is None:
        scale = fh * rng.uniform(*cond.phone_height) / h
        tw, th = w * scale, h * scale
        cx = rng.uniform(tw / 2, max(tw / 2, fw - tw / 2))
        cy = rng.uniform(th / 2, max(th / 2, fh - th / 2))
        pivot = np.array([w / 2, h / 2])
        extent = np.array([tw, th])
    else:
        scale = 1.0
        reach = code_w * 0.75  # half the code's diagonal, with some room for tilt
        cx = rng.uniform(reach, max(reach, fw - reach))
        cy = rng.uniform(reach, max(reach, fh - reach))
        pivot = np.array([code_x, code_y])
        extent = np.array([code_w, code_w])
    angle = np.deg2rad(rng.uniform(-cond.rotation_deg, cond.rotation_deg))
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    corners = (source - pivot) * scale
    # Perspective: each corner moves by up to `tilt` of the code (or phone) size.
    corners += rng.uniform(-cond.tilt, cond.tilt, size=(4, 2)) * extent
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = corners @ rot.T + np.array([cx, cy])
    return cv2.getPerspectiveTransform(source.astype(np.float32), placed.astype(np.float32))


def _glare(rng: np.random.Generator, frame: np.ndarray, strength: float) -> np.ndarray:
    height, width = frame.shape[:2]
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    radius = rng.uniform(0.15, 0.4) * width
    # A Gaussian spot is separable: an outer product of two 1-D falloffs (cheap).
    fx = np.exp(-((np.arange(width, dtype=np.float32) - cx) ** 2) / (2 * radius**2))
    fy = np.exp(-((np.arange(height, dtype=np.float32) - cy) ** 2) / (2 * radius**2))
    blend = (np.float32(strength) * np.outer(fy, fx).astype(np.float32))[..., None]
    lit: np.ndarray = frame + (np.float32(255.0) - frame) * blend
    return lit


def camera_frame(
    payload: str | None,
    rng: np.random.Generator,
    *,
    conditions: Conditions | None = None,
    size: tuple[int, int] = (640, 480),
    error: str = "m",
) -> Frame:
    """A BGR camera frame, with a phone showing ``payload`` as a QR code (or an empty scene)."""
    cond = conditions or Conditions()
    width, height = size
    busy = cond.busy_background > 0 and rng.random() < cond.busy_background
    frame = _background(rng, width, height, busy)
    if payload is not None:
        phone, code = phone_screen(payload, rng, error)
        if cond.code_px is not None:
            scale = rng.uniform(*cond.code_px) / code[2]
            phone = cv2.resize(phone, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            code = (code[0] * scale, code[1] * scale, code[2] * scale)
        matrix = _pose(rng, (phone.shape[1], phone.shape[0]), code, size, cond)
        warped = cv2.warpPerspective(phone, matrix, size, flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(
            np.full(phone.shape[:2], 255, np.uint8), matrix, size, flags=cv2.INTER_LINEAR
        )
        frame = np.where(mask[..., None] > 127, warped, frame)
    image: np.ndarray = frame.astype(np.float32)
    if rng.random() < cond.glare_chance:
        image = _glare(rng, image, rng.uniform(min(cond.glare_floor, cond.glare), cond.glare))
    image = image * rng.uniform(0.7, 1.15) + rng.uniform(-20, 20)
    sigma = rng.uniform(*cond.blur_sigma)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    if cond.motion_px[1] > 0:
        length = rng.uniform(*cond.motion_px)
        if length >= 1.5:
            image = cv2.filter2D(image, -1, streak_kernel(length, rng.uniform(0, 180)))
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    image += noise * np.float32(rng.uniform(*cond.noise_sigma))
    result: Frame = np.clip(image, 0, 255).astype(np.uint8)
    if cond.jpeg_quality is not None:
        quality = int(rng.uniform(*cond.jpeg_quality))
        _, data = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if decoded is not None:
            return np.asarray(decoded, dtype=np.uint8)
    return result
