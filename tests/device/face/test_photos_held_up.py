"""A still photo before the camera is told "a photo cannot be used", at every face size.

Portraits from installed packages, with the face 10-80 % of the frame's width, are held
still before the simulated camera (as the kiosk's upload does) and scanned by the face
component; a portrait-shaped photo goes through the camera's upload path unstretched.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from device.face.checker import DispenserFaceChecker
from device.face.messages import headline
from device.face.pipeline import FaceParts
from device.face.types import Outcome, Reason
from device.hardware.camera import SimulatedCamera
from tests import face_photos

from .conftest import NOW

FRACTIONS = (0.1, 0.2, 0.4, 0.6, 0.8)


@pytest.fixture(scope="module")
def checker(live_parts: FaceParts) -> Iterator[DispenserFaceChecker]:
    made = DispenserFaceChecker(live_parts, expiry_interval=3600)
    yield made
    made.close()


def still_scan(checker: DispenserFaceChecker, image: np.ndarray) -> Reason:
    camera = SimulatedCamera(fps=0, seed=1)
    camera.hold_image(image, seconds=60)
    frames = iter(range(12))  # a short still burst keeps the test quick

    def read() -> np.ndarray | None:
        return camera.read() if next(frames, None) is not None else None

    verdict = checker.scan(read, now=NOW, window_seconds=540)
    assert verdict.outcome is Outcome.NO_FACE
    assert checker.held == 0
    return verdict.reason


@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("person", ["astronaut", "grace_hopper", "tom_hanks"])
def test_a_still_photo_is_a_photo_at_every_face_size(
    checker: DispenserFaceChecker, person: str, fraction: float
) -> None:
    frame = face_photos.scene(person, face_px=int(fraction * 640), center=(320, 240))
    assert still_scan(checker, frame) is Reason.NOT_LIVE
    assert headline(Reason.NOT_LIVE)[0] == "A photo cannot be used"


def test_a_portrait_upload_is_not_stretched_and_is_a_photo(checker: DispenserFaceChecker) -> None:
    square = face_photos.portrait("grace_hopper")
    portrait = cv2.copyMakeBorder(square, 200, 200, 0, 0, cv2.BORDER_REPLICATE)  # 3:5 photo
    camera = SimulatedCamera(fps=0, seed=1)
    camera.hold_image(portrait)
    frame = camera.read()
    assert frame is not None and frame.shape == (480, 640, 3)
    assert (frame[:, :100] == 128).all()  # grey bars at the sides, not a stretched face
    assert still_scan(checker, portrait) is Reason.NOT_LIVE
