"""The parallax liveness check: a turning head passes, a flat print does not."""

from __future__ import annotations

import numpy as np
import pytest

from device.face.liveness import ParallaxLiveness, StillImageLiveness, nose_offset
from device.face.pipeline import FaceParts
from device.face.types import AlignedFace
from tests import face_photos
from tests.face_geometry import FACE_3D, FLAT_3D, rotation, seen, wobble


def test_nose_offset_ignores_position_size_and_roll() -> None:
    rng = np.random.default_rng(0)
    straight = seen(FACE_3D, rotation(0), np.random.default_rng(1)).points
    rolled = seen(FACE_3D * 1.3, rotation(0, roll=25), rng).points + 40
    assert abs(nose_offset(straight) - nose_offset(rolled)) < 0.03


@pytest.mark.parametrize("seed", range(5))
def test_live_head_turning_ten_degrees_each_way_passes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    check = ParallaxLiveness()
    faces = [seen(FACE_3D, rotation(yaw), rng) for yaw in np.linspace(-10, 10, 8)]
    assert check.is_live(faces)


@pytest.mark.parametrize("seed", range(20))
def test_flat_print_tilted_by_hand_fails(seed: int) -> None:
    rng = np.random.default_rng(seed)
    check = ParallaxLiveness()
    faces = [seen(FLAT_3D, wobble(rng), rng) for _ in range(8)]
    assert not check.is_live(faces)


def test_known_limit_a_print_tilted_hard_about_two_axes_passes() -> None:
    """Documented limit (docs/face.md): strong compound tilts mimic a head turn."""
    rng = np.random.default_rng(5)
    faces = [seen(FLAT_3D, rotation(20 * s, 20, 0), rng) for s in np.linspace(-1, 1, 8)]
    assert ParallaxLiveness().is_live(faces)


def test_still_head_fails_and_too_few_frames_fail() -> None:
    rng = np.random.default_rng(3)
    check = ParallaxLiveness()
    assert not check.is_live([seen(FACE_3D, rotation(0), rng) for _ in range(8)])
    assert not check.is_live([seen(FACE_3D, rotation(yaw), rng) for yaw in (-10, 10)])


def test_still_image_liveness_needs_one_face() -> None:
    rng = np.random.default_rng(4)
    assert StillImageLiveness().is_live([seen(FACE_3D, rotation(0), rng)])
    assert not StillImageLiveness().is_live([])


def faces_in(burst: list[np.ndarray], parts: FaceParts) -> list[AlignedFace]:
    found = []
    for frame in burst:
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        boxes = parts.detector.detect(rgb)
        if boxes:
            found.append(parts.embedder.align(rgb, max(boxes, key=lambda b: b.area)))
    return found


@pytest.mark.parametrize("person", ["astronaut", "grace_hopper", "group_3"])
def test_real_photo_held_up_and_tilted_is_not_live(person: str, live_parts: FaceParts) -> None:
    faces = faces_in(face_photos.print_burst(person, seed=7), live_parts)
    assert len(faces) >= 6
    assert not ParallaxLiveness().is_live(faces)


@pytest.mark.parametrize("person", ["astronaut", "grace_hopper", "group_3"])
def test_real_photo_warped_to_turn_the_head_is_live(person: str, live_parts: FaceParts) -> None:
    faces = faces_in(face_photos.turning_burst(person, seed=7), live_parts)
    assert ParallaxLiveness().is_live(faces)
