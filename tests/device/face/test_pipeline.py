"""The face decision on real photos: dispense, refuse, and every kind of no usable face."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest

from device.face.checker import DispenserFaceChecker
from device.face.pipeline import BurstLimits, FaceParts, FrameError, decide_face
from device.face.replay import ReplayCamera
from device.face.store import EmbeddingStore
from device.face.types import Outcome, Reason
from tests import face_photos

from .conftest import NOW

WINDOW = 540


def visit(frames: object, store: EmbeddingStore, parts: FaceParts, seconds: int = 0):  # type: ignore[no-untyped-def]
    return decide_face(frames, store, parts, WINDOW, NOW + timedelta(seconds=seconds))  # type: ignore[arg-type]


def test_new_face_dispenses_and_same_face_is_refused_until_the_window_ends(
    still_parts: FaceParts,
) -> None:
    store = EmbeddingStore()
    first = visit([face_photos.variant("astronaut", "base")], store, still_parts)
    assert first.outcome is Outcome.DISPENSE and first.reason is Reason.NEW_FACE
    again = visit([face_photos.variant("astronaut", "dim_noisy_jpeg")], store, still_parts, 60)
    assert again.outcome is Outcome.REFUSE and again.reason is Reason.SEEN_IN_WINDOW
    assert again.available_at == NOW + timedelta(seconds=WINDOW)
    assert "8 minutes" in again.message_en and "8 分钟" in again.message_zh
    later = visit([face_photos.variant("astronaut", "rotate_left")], store, still_parts, WINDOW)
    assert later.outcome is Outcome.DISPENSE


def test_a_different_person_is_not_refused(still_parts: FaceParts) -> None:
    store = EmbeddingStore()
    assert (
        visit([face_photos.variant("group_1", "base")], store, still_parts).outcome
        is Outcome.DISPENSE
    )
    other = visit([face_photos.variant("group_6", "base")], store, still_parts, 5)
    assert other.outcome is Outcome.DISPENSE
    assert len(store) == 2


def test_group_photo_is_several_faces(still_parts: FaceParts) -> None:
    frame = face_photos.scene("group_1", face_px=110, center=(170, 220))
    frame[:, 320:] = face_photos.scene("group_3", face_px=110, center=(470, 220))[:, 320:]
    decision = visit([frame], EmbeddingStore(), still_parts)
    assert (decision.outcome, decision.reason) == (Outcome.NO_FACE, Reason.SEVERAL_FACES)
    assert "more than one face" in decision.message_en.lower()


def test_dark_frame_is_too_dark(still_parts: FaceParts) -> None:
    frame = (face_photos.variant("grace_hopper", "base") * 0.08).astype(np.uint8)
    decision = visit([frame], EmbeddingStore(), still_parts)
    assert decision.reason is Reason.TOO_DARK
    assert "phone code" in decision.message_en


def test_small_face_is_too_far(still_parts: FaceParts) -> None:
    frame = face_photos.scene("astronaut", face_px=45)
    decision = visit([frame], EmbeddingStore(), still_parts)
    assert decision.reason is Reason.TOO_FAR


def test_empty_wall_is_no_face_and_no_frames_is_said(still_parts: FaceParts) -> None:
    wall = face_photos.scene("astronaut")[:120, :120].copy()
    assert visit([wall], EmbeddingStore(), still_parts).reason is Reason.NO_FACE
    assert visit([None, None], EmbeddingStore(), still_parts).reason is Reason.NO_FRAMES


def test_print_held_up_is_not_live_and_nothing_is_stored(live_parts: FaceParts) -> None:
    store = EmbeddingStore()
    decision = visit(face_photos.print_burst("group_3", seed=3), store, live_parts)
    assert (decision.outcome, decision.reason) == (Outcome.NO_FACE, Reason.NOT_LIVE)
    assert len(store) == 0


def test_turning_head_from_a_replay_camera_dispenses_then_refuses(live_parts: FaceParts) -> None:
    checker = DispenserFaceChecker(live_parts, expiry_interval=3600)
    try:
        camera = ReplayCamera(face_photos.turning_burst("group_4"), fps=0)
        first = checker.scan(camera.read, now=NOW, window_seconds=WINDOW)
        assert first.outcome is Outcome.DISPENSE
        camera = ReplayCamera(face_photos.turning_burst("group_4", seed=9), fps=0)
        second = checker.scan(camera.read, now=NOW + timedelta(seconds=30), window_seconds=WINDOW)
        assert second.outcome is Outcome.REFUSE
        assert second.available_at == NOW + timedelta(seconds=WINDOW)
    finally:
        checker.close()


def test_burst_is_bounded_in_frames_and_time(still_parts: FaceParts) -> None:
    wall = np.full((480, 640, 3), 128, np.uint8)
    served = 0

    def endless() -> Iterator[np.ndarray]:
        nonlocal served
        while True:
            served += 1
            yield wall

    limits = BurstLimits(max_frames=5)
    decide_face(endless(), EmbeddingStore(), still_parts, WINDOW, NOW, limits)
    assert served == 5  # nothing past the bound is even taken from the source
    ticks = iter(range(100))
    served = 0
    decide_face(endless(), EmbeddingStore(), still_parts, WINDOW, NOW, clock=lambda: next(ticks))
    assert served <= 3  # a fake clock advancing one second per look: 2 s allow two frames


@pytest.mark.parametrize(
    "frame",
    [np.zeros((480, 640), np.uint8), np.zeros((480, 640, 3), np.float32), "a photo"],
)
def test_malformed_frame_is_a_clear_error(frame: object, still_parts: FaceParts) -> None:
    with pytest.raises(FrameError, match="frame must be"):
        visit([frame], EmbeddingStore(), still_parts)


def test_naive_time_is_refused(still_parts: FaceParts) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_face([], EmbeddingStore(), still_parts, WINDOW, NOW.replace(tzinfo=None))


def test_undo_forgets_a_dispense_that_failed(still_parts: FaceParts) -> None:
    checker = DispenserFaceChecker(still_parts, expiry_interval=3600)
    try:
        frame = face_photos.variant("tom_hanks", "base")
        assert checker.check([frame], now=NOW, window_seconds=WINDOW).outcome is Outcome.DISPENSE
        assert checker.held == 1
        assert checker.undo_last()
        assert checker.held == 0
    finally:
        checker.close()


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 24, 60])
def test_captured_bursts_are_visited_coarse_to_fine(count: int) -> None:
    from device.face.pipeline import spread_order

    order = spread_order(count)
    assert sorted(order) == list(range(count))
    if count >= 3:
        assert order[:2] == [0, count - 1] and order[2] == (count - 1) // 2
