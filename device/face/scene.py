"""A visitor turning their head, for the simulated dispenser's kiosk panel (demo only).

No package ships video of a live person, so the simulated camera plays a real photo
shipped in an installed package (scikit-image's astronaut picture, located and read as
a file, never imported) warped so that the nose moves sideways relative to the eyes:
the parallax a turning head shows and a flat photo cannot. The real dispenser never
uses this module; ``device.app`` offers it only to a simulated camera.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from device.face.types import Frame

PHOTO = ("skimage", "data/astronaut.png")
FRAME_W, FRAME_H = 640, 480
FACE_PX = 160  # the face's width in the scene: a visitor about 60 cm from the camera


class PhotoMissing(RuntimeError):
    """The package that ships the photo is not installed."""


def photo_path() -> Path:
    """The photo's file inside its installed package."""
    package, relative = PHOTO
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PhotoMissing(f"the {package} package (its sample photo) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise PhotoMissing(f"{relative} is missing from the {package} package")
    return path


@cache
def head_turn_scene(frames: int = 24, turn: float = 0.18) -> tuple[Frame, ...]:
    """``frames`` camera frames of the visitor turning their head left to right."""
    from device.face.dlib_backend import DlibHogDetector, DlibResNetEmbedder

    frame = _framed(cv2.imread(str(photo_path()), cv2.IMREAD_COLOR))
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    boxes = DlibHogDetector().detect(rgb)
    if not boxes:
        raise PhotoMissing("no face found in the sample photo")
    points = DlibResNetEmbedder().align(rgb, max(boxes, key=lambda b: b.area)).points
    eyes = points[:4].mean(axis=0)
    iod = float(np.linalg.norm(points[0:2].mean(axis=0) - points[2:4].mean(axis=0)))
    nose = points[4]
    ys, xs = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
    # A soft bump around the nose and mouth that fades out before the eyes.
    sigma = 0.45 * iod
    weight = np.exp(-((xs - nose[0]) ** 2 + (ys - (nose[1] + 0.2 * iod)) ** 2) / (2 * sigma**2))
    weight *= np.clip((ys - eyes[1]) / (0.5 * iod), 0, 1)
    rng = np.random.default_rng(0)
    scene: list[Frame] = []
    for phase in np.linspace(-1.0, 1.0, frames):
        shift = float(phase) * turn * iod
        map_x = (xs - shift * weight + rng.normal(0, 1.0)).astype(np.float32)
        warped = cv2.remap(frame, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        turned: Frame = np.asarray(warped, dtype=np.uint8)
        turned.flags.writeable = False
        scene.append(turned)
    return tuple(scene)


def _framed(photo: np.ndarray | None) -> Frame:
    """The photo scaled so the face is ``FACE_PX`` wide, centred in a camera frame."""
    if photo is None:
        raise PhotoMissing("the sample photo cannot be read")
    # The astronaut's face is about 90 px wide in the 512 px picture.
    scale = FACE_PX / 90
    scaled = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    top = max(0, int(120 * scale) - FRAME_H // 3)
    left = max(0, int(220 * scale) - FRAME_W // 2)
    crop = scaled[top : top + FRAME_H, left : left + FRAME_W]
    frame = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    frame[: crop.shape[0], : crop.shape[1]] = crop
    return frame
