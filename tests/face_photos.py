"""Real face photos shipped inside installed packages, and camera-like variants of them.

Nine people, one photo each, all from package data (nothing is downloaded):
scikit-image's astronaut (Eileen Collins), matplotlib's Grace Hopper, and
insightface's Tom Hanks sample and its six-person group photo. Everything here
is for tests and benchmarks; the dispenser program never imports it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

FRAME_W, FRAME_H = 640, 480

# (package, file inside the package, face boxes as (left, top, size) in that file).
# The boxes are where dlib's HOG detector finds the faces (upsampled once); they
# are fixed here so that loading the set does not need a detector.
_SOURCES: dict[str, tuple[str, str, tuple[int, int, int]]] = {
    "astronaut": ("skimage", "data/astronaut.png", (175, 76, 90)),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (180, 139, 186)),
    "tom_hanks": ("insightface", "data/images/Tom_Hanks_54745.png", (15, 32, 77)),
    "group_1": ("insightface", "data/images/t1.jpg", (67, 283, 108)),
    "group_2": ("insightface", "data/images/t1.jpg", (275, 176, 89)),
    "group_3": ("insightface", "data/images/t1.jpg", (450, 295, 107)),
    "group_4": ("insightface", "data/images/t1.jpg", (724, 367, 108)),
    "group_5": ("insightface", "data/images/t1.jpg", (870, 67, 129)),
    "group_6": ("insightface", "data/images/t1.jpg", (1118, 283, 108)),
}
PEOPLE = tuple(_SOURCES)


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package (located, never imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package} is not installed (pip install -e '.[test]')")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{relative} is missing from package {package}")
    return path


def available() -> str | None:
    """None when every photo can be read, else the reason it cannot."""
    try:
        for package, relative, _ in _SOURCES.values():
            package_file(package, relative)
    except FileNotFoundError as error:
        return str(error)
    return None


@cache
def _read(package: str, relative: str) -> Image:
    image = cv2.imread(str(package_file(package, relative)), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot decode {relative} from {package}")
    image.flags.writeable = False
    return image


def portrait(person: str) -> Image:
    """A square BGR cut-out with the face in the middle third (padded at the edges)."""
    package, relative, (left, top, size) = _SOURCES[person]
    padded = cv2.copyMakeBorder(_read(package, relative), *(size,) * 4, cv2.BORDER_REPLICATE)
    crop = padded[top : top + 3 * size, left : left + 3 * size]
    return np.ascontiguousarray(crop)


def _background(rng: np.random.Generator) -> Image:
    """A plain, slightly textured wall such as a restroom entrance."""
    ramp = np.linspace(150, 110, FRAME_H, dtype=np.float32)[:, None]
    wall = np.repeat(ramp, FRAME_W, axis=1) + rng.normal(0, 3, (FRAME_H, FRAME_W))
    return np.clip(np.dstack([wall, wall * 1.02, wall * 0.97]), 0, 255).astype(np.uint8)


def scene(
    person: str, face_px: int = 160, center: tuple[int, int] = (320, 220), seed: int = 0
) -> Image:
    """A 640x480 camera frame with `person`'s face `face_px` wide at `center`."""
    picture = portrait(person)
    side = 3 * face_px
    scaled = cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA)
    frame = _background(np.random.default_rng(seed))
    x0, y0 = center[0] - side // 2, center[1] - side // 2
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + side, FRAME_W), min(y0 + side, FRAME_H)
    frame[fy0:fy1, fx0:fx1] = scaled[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return frame


def _gamma(frame: Image, gamma: float, gain: float = 1.0) -> Image:
    table = np.clip(gain * 255.0 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.uint8)
    return cv2.LUT(frame, table)


def _noise(frame: Image, sigma: float, seed: int = 0) -> Image:
    noisy = frame + np.random.default_rng(seed).normal(0, sigma, frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _jpeg(frame: Image, quality: int) -> Image:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def _rotate(frame: Image, degrees: float) -> Image:
    matrix = cv2.getRotationMatrix2D((FRAME_W / 2, FRAME_H / 2 - 20), degrees, 1.0)
    return cv2.warpAffine(frame, matrix, (FRAME_W, FRAME_H), borderMode=cv2.BORDER_REPLICATE)


def _turn(frame: Image, squeeze: float) -> Image:
    """A flat-turn (yaw-like) perspective: one side of the frame narrower."""
    w, h = FRAME_W, FRAME_H
    d = squeeze * h / 2
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    if squeeze > 0:
        dst = np.float32([[0, d], [w, 0], [w, h], [0, h - d]])
    else:
        dst = np.float32([[0, 0], [w, -d], [w, h + d], [0, h]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(frame, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


# Each variant: how a camera at the dispenser might see the same person.
VARIANTS: dict[str, Callable[[str], Image]] = {
    "base": lambda p: scene(p),
    "small": lambda p: scene(p, face_px=100),
    "large": lambda p: scene(p, face_px=230),
    "offset": lambda p: scene(p, center=(230, 260)),
    "rotate_left": lambda p: _rotate(scene(p), 12),
    "rotate_right": lambda p: _rotate(scene(p), -12),
    "turn_left": lambda p: _turn(scene(p), 0.25),
    "turn_right": lambda p: _turn(scene(p), -0.25),
    "mirror": lambda p: np.ascontiguousarray(scene(p)[:, ::-1]),
    "dim": lambda p: _gamma(scene(p), 1.8, 0.8),
    "bright": lambda p: _gamma(scene(p), 0.6, 1.1),
    "noise": lambda p: _noise(scene(p), 12),
    "jpeg": lambda p: _jpeg(scene(p), 15),
    "blur": lambda p: cv2.GaussianBlur(scene(p), (7, 7), 0),
    "dim_noisy_jpeg": lambda p: _jpeg(_noise(_gamma(scene(p), 1.6, 0.7), 8), 30),
    "small_rotated_blur": lambda p: cv2.GaussianBlur(_rotate(scene(p, face_px=110), 8), (5, 5), 0),
}


def variant(person: str, name: str) -> Image:
    """The frame of `person` under variant `name`."""
    return VARIANTS[name](person)


def _landmarks(frame: Image) -> npt.NDArray[np.float64]:
    """The five landmarks of the largest face in `frame` (dlib)."""
    from device.face.dlib_backend import DlibHogDetector, DlibResNetEmbedder

    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    boxes = DlibHogDetector().detect(rgb)
    if not boxes:
        raise ValueError("no face in the base frame")
    box = max(boxes, key=lambda b: b.area)
    return DlibResNetEmbedder().align(rgb, box).points


def turning_burst(person: str, frames: int = 8, turn: float = 0.18, seed: int = 0) -> list[Image]:
    """A simulated live visitor turning their head: the nose moves sideways.

    The photo is warped so that the region around the nose shifts by up to
    `turn` inter-eye distances each way relative to the eyes (parallax that a
    real head shows and a flat print cannot), with a little movement and sensor
    noise. It stands in for video of a live person, which no package ships.
    """
    base = scene(person)
    points = _landmarks(base)
    eyes = points[:4].mean(axis=0)
    iod = float(np.linalg.norm(points[0:2].mean(axis=0) - points[2:4].mean(axis=0)))
    nose = points[4]
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
    # A soft bump around the nose and mouth, fading before the eyes.
    sigma = 0.45 * iod
    weight = np.exp(-((xs - nose[0]) ** 2 + (ys - (nose[1] + 0.2 * iod)) ** 2) / (2 * sigma**2))
    weight *= np.clip((ys - eyes[1]) / (0.5 * iod), 0, 1)
    burst = []
    for phase in np.linspace(-1.0, 1.0, frames):
        shift = float(phase) * turn * iod
        jitter = rng.normal(0, 1.5, 2)
        map_x = (xs - shift * weight - jitter[0]).astype(np.float32)
        map_y = (ys - jitter[1]).astype(np.float32)
        frame = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        burst.append(_noise(frame, 3, seed=int(rng.integers(1 << 30))))
    return burst


def print_burst(person: str, frames: int = 8, max_tilt: float = 20.0, seed: int = 0) -> list[Image]:
    """A printed photo held up by hand: tilted about random axes, moved, noisy.

    Each frame is a perspective view of the flat print turned by up to
    `max_tilt` degrees about a random axis in its plane, rotated by up to 5
    degrees in the image, moved by up to 20 pixels and scaled by up to 8 %.
    """
    base = scene(person)
    rng = np.random.default_rng(seed)
    focal = 600.0
    centre = np.array([FRAME_W / 2, FRAME_H / 2 - 20])
    corners = np.float32([[0, 0], [FRAME_W, 0], [FRAME_W, FRAME_H], [0, FRAME_H]])
    burst = []
    for _ in range(frames):
        axis_angle = rng.uniform(0, np.pi)
        tilt = np.radians(rng.uniform(-max_tilt, max_tilt))
        spin = np.radians(rng.uniform(-5, 5))
        scale = rng.uniform(0.92, 1.08)
        move = rng.uniform(-20, 20, 2)
        axis = np.array([np.cos(axis_angle), np.sin(axis_angle), 0.0])
        rotation = _rotation(axis, tilt) @ _rotation(np.array([0.0, 0.0, 1.0]), spin)
        projected = []
        for corner in corners:
            u, v = (corner - centre) * scale
            x, y, z = rotation @ np.array([u, v, 0.0])
            projected.append(centre + move + focal * np.array([x, y]) / (focal + z))
        matrix = cv2.getPerspectiveTransform(corners, np.float32(projected))
        frame = cv2.warpPerspective(
            base, matrix, (FRAME_W, FRAME_H), borderMode=cv2.BORDER_REPLICATE
        )
        frame = cv2.GaussianBlur(frame, (3, 3), 0)
        burst.append(_noise(frame, 3, seed=int(rng.integers(1 << 30))))
    return burst


def _rotation(axis: npt.NDArray[np.float64], angle: float) -> npt.NDArray[np.float64]:
    """Rodrigues' rotation matrix about a unit axis."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
