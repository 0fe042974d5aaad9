"""The face decision on real photos: dispense, refuse, and every kind of no usable face."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest

from device.face.events import face_event
from device.face.pipeline import BurstLimits, FaceParts, FrameError, decide_face
from device.face.replay import ReplayCamera
from device.face.service import ConsentRequired, FaceMode, FacePolicy
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
    assert again.available_again_at == NOW + timedelta(seconds=WINDOW)
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
    assert "one person at a time" in decision.message_en.lower()


def test_dark_frame_is_too_dark(still_parts: FaceParts) -> None:
    frame = (face_photos.variant("grace_hopper", "base") * 0.08).astype(np.uint8)
    decision = visit([frame], EmbeddingStore(), still_parts)
    assert decision.reason is Reason.TOO_DARK
    assert "phone code" in decision.message_en


def test_small_face_is_too_far(still_parts: FaceParts) -> None:
    frame = face_photos.scene("astronaut", face_px=60)
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
    mode = FaceMode(live_parts, FacePolicy(allowed=True, window_seconds=WINDOW))
    first = mode.scan(ReplayCamera(face_photos.turning_burst("group_4"), fps=0).read, NOW, True)
    assert first.outcome is Outcome.DISPENSE
    camera = ReplayCamera(face_photos.turning_burst("group_4", seed=9), fps=0)
    second = mode.scan(camera.read, NOW + timedelta(seconds=30), consented=True)
    assert second.outcome is Outcome.REFUSE
    assert [face_event(first), face_event(second)] == [
        {"kind": "dispense", "method": "face"},
        {"kind": "refuse", "method": "face"},
    ]


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


def test_scan_needs_consent_and_face_mode_off_processes_nothing(still_parts: FaceParts) -> None:
    mode = FaceMode(still_parts, FacePolicy(allowed=True, window_seconds=WINDOW))
    frames_read = []
    with pytest.raises(ConsentRequired):
        mode.scan(lambda: frames_read.append(1), NOW, consented=False)  # type: ignore[arg-type, func-returns-value]
    mode.set_policy(FacePolicy(allowed=False, window_seconds=WINDOW))
    decision = mode.scan(lambda: frames_read.append(1), NOW, consented=True)  # type: ignore[arg-type, func-returns-value]
    assert decision.reason is Reason.FACE_MODE_OFF
    assert frames_read == []


def test_undo_forgets_a_dispense_that_failed(still_parts: FaceParts) -> None:
    mode = FaceMode(still_parts, FacePolicy(allowed=True, window_seconds=WINDOW))
    frame = face_photos.variant("tom_hanks", "base")
    decision = mode.scan([frame], NOW, consented=True)
    assert mode.held == 1
    mode.undo(decision)
    assert mode.held == 0
    assert mode.scan([frame], NOW, consented=True).outcome is Outcome.DISPENSE


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 24, 60])
def test_captured_bursts_are_visited_coarse_to_fine(count: int) -> None:
    from device.face.pipeline import spread_order

    order = spread_order(count)
    assert sorted(order) == list(range(count))
    if count >= 3:
        assert order[:2] == [0, count - 1] and order[2] == (count - 1) // 2
