"""The checker the dispenser loop loads: verdicts, frames wiped, faces erased on time."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest

from device.face import make_checker
from device.face.checker import DispenserFaceChecker
from device.face.pipeline import FaceParts
from device.face.types import Outcome, Reason
from tests import face_photos

from .conftest import NOW


@pytest.fixture
def checker(live_parts: FaceParts) -> DispenserFaceChecker:
    made = DispenserFaceChecker(live_parts, expiry_interval=3600)
    yield made  # type: ignore[misc]
    made.close()


def test_new_face_then_seen_recently_then_problem(checker: DispenserFaceChecker) -> None:
    first = checker.check(face_photos.turning_burst("group_1"), now=NOW, window_seconds=540)
    assert (first.outcome, first.reason) == (Outcome.DISPENSE, Reason.NEW_FACE)
    later = NOW + timedelta(seconds=40)
    again = checker.check(
        face_photos.turning_burst("group_1", seed=4), now=later, window_seconds=540
    )
    assert again.outcome is Outcome.REFUSE and again.available_at == NOW + timedelta(seconds=540)
    photo = checker.check(face_photos.print_burst("group_1"), now=later, window_seconds=540)
    assert photo.reason is Reason.NOT_LIVE and "turn your head" in photo.message_en
    assert checker.held == 1


def test_frames_given_to_check_are_overwritten(checker: DispenserFaceChecker) -> None:
    frames = face_photos.turning_burst("astronaut")
    checker.check(frames, now=NOW, window_seconds=540)
    assert all(not frame.any() for frame in frames)


def test_faces_are_erased_by_the_timer_when_their_window_ends(live_parts: FaceParts) -> None:
    clock = [NOW]
    checker = DispenserFaceChecker(live_parts, expiry_interval=0.01, clock=lambda: clock[0])
    try:
        checker.check(face_photos.turning_burst("group_5"), now=NOW, window_seconds=60)
        assert checker.held == 1
        clock[0] = NOW + timedelta(seconds=61)
        deadline = time.monotonic() + 5
        while checker.held and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checker.held == 0
    finally:
        checker.close()


def test_erase_all_and_close_empty_the_store(live_parts: FaceParts) -> None:
    checker = DispenserFaceChecker(live_parts, expiry_interval=3600)
    checker.check(face_photos.turning_burst("group_2"), now=NOW, window_seconds=540)
    assert checker.held == 1
    checker.erase_all()
    assert checker.held == 0
    # Erased means new again: the same face is held afresh, and close() erases it too.
    again = checker.check(face_photos.turning_burst("group_2", seed=4), now=NOW, window_seconds=540)
    assert again.outcome is Outcome.DISPENSE and checker.held == 1
    checker.close()
    assert checker.held == 0


def test_make_checker_builds_the_real_pipeline() -> None:
    made = make_checker()
    try:
        assert made.burst_seconds <= 2.0 and made.max_frames >= 3
        verdict = made.check([np.zeros((480, 640, 3), np.uint8)], now=NOW, window_seconds=540)
        assert verdict.reason is Reason.TOO_DARK
    finally:
        made.close()


def test_scan_reads_the_camera_itself(checker: DispenserFaceChecker) -> None:
    from device.face.replay import ReplayCamera

    camera = ReplayCamera(face_photos.turning_burst("group_3"), fps=0)
    first = checker.scan(camera.read, now=NOW, window_seconds=540)
    assert (first.outcome, first.reason) == (Outcome.DISPENSE, Reason.NEW_FACE)
    camera = ReplayCamera(face_photos.turning_burst("group_3", seed=5), fps=0)
    assert checker.scan(camera.read, now=NOW, window_seconds=540).outcome is Outcome.REFUSE


def test_make_checker_fails_clearly_without_the_model_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from device.face.dlib_backend import FaceModelMissing

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "face_recognition_models" else real(name, *a),
    )
    with pytest.raises(FaceModelMissing, match="face_recognition_models"):
        make_checker()


def test_undo_last_forgets_only_the_last_new_face(checker: DispenserFaceChecker) -> None:
    from device.face.replay import ReplayCamera

    checker.check(face_photos.turning_burst("group_4"), now=NOW, window_seconds=540)
    camera = ReplayCamera(face_photos.turning_burst("group_6"), fps=0)
    assert checker.scan(camera.read, now=NOW, window_seconds=540).outcome is Outcome.DISPENSE
    assert checker.held == 2
    assert checker.undo_last() is True  # the motor jammed: group_6 got nothing
    assert checker.held == 1
    assert checker.undo_last() is False  # nothing more to undo
    again = checker.check(face_photos.turning_burst("group_4", seed=2), now=NOW, window_seconds=540)
    assert again.outcome is Outcome.REFUSE
    assert checker.undo_last() is False  # a refusal holds no new face
    assert checker.held == 1


def test_tick_erases_faces_whose_window_ended(checker: DispenserFaceChecker) -> None:
    checker.check(face_photos.turning_burst("tom_hanks"), now=NOW, window_seconds=60)
    assert checker.tick(NOW + timedelta(seconds=59)) == 0 and checker.held == 1
    assert checker.tick(NOW + timedelta(seconds=60)) == 1 and checker.held == 0


def test_scan_reads_no_more_than_its_bounds(checker: DispenserFaceChecker) -> None:
    reads = []

    def empty_wall() -> np.ndarray:
        reads.append(1)
        return np.full((480, 640, 3), 128, np.uint8)

    verdict = checker.scan(empty_wall, now=NOW, window_seconds=540)
    assert verdict.reason is Reason.NO_FACE
    assert len(reads) <= checker.max_frames
