"""Face mode: opt-in, on-device, RAM-only face matching for the dispenser.

Importing this package never imports dlib; `availability()` says whether face
mode can run here, and `default_parts()` builds the dlib pipeline when it can.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from device.face.checker import DispenserFaceChecker
    from device.face.pipeline import FaceParts

__all__ = ["Availability", "availability", "default_parts", "make_checker"]


@dataclass(frozen=True)
class Availability:
    """Whether face mode can run on this device, and if not, why."""

    available: bool
    reason: str


def availability() -> Availability:
    """Check (without loading any model) that the face extra is installed."""
    for module, package in (("numpy", "numpy"), ("cv2", "opencv-python-headless")):
        if importlib.util.find_spec(module) is None:
            return Availability(
                False, f"{package} is not installed (pip install 'fairroll[device]')"
            )
    if importlib.util.find_spec("dlib") is None:
        return Availability(False, "dlib-bin is not installed (pip install 'fairroll[face]')")
    from device.face.dlib_backend import FaceModelMissing, model_dir

    try:
        model_dir()
    except FaceModelMissing as error:
        return Availability(False, f"{error} (pip install 'fairroll[face]')")
    return Availability(True, "face mode can run on this device")


def default_parts(still_images: bool = False) -> FaceParts:
    """The dlib detector and embedder with the parallax liveness check.

    `still_images` swaps the liveness check for none (the technician's tool).
    Raises FaceModelMissing when `availability()` is False.
    """
    from device.face.dlib_backend import DlibHogDetector, DlibResNetEmbedder
    from device.face.liveness import ParallaxLiveness, StillImageLiveness
    from device.face.pipeline import FaceParts

    liveness = StillImageLiveness() if still_images else ParallaxLiveness()
    return FaceParts(DlibHogDetector(), DlibResNetEmbedder(), liveness)


def make_checker() -> DispenserFaceChecker:
    """The face checker for the dispenser loop (`device/facemode.py` loads it).

    Raises FaceModelMissing when the face extra is not installed; the loop then
    does not offer face mode.
    """
    from device.face.checker import DispenserFaceChecker

    return DispenserFaceChecker(default_parts())
