"""Privacy inside the face component: erasure, no core dumps, frames and cut-outs zeroed.

The proof on the running dispenser program (files, ledger, restart) is in
``test_privacy_dispenser.py``; the network proof in ``tests/device/test_face_network.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from device.face.checker import DispenserFaceChecker
from device.face.pipeline import FaceParts
from device.face.types import Outcome
from tests import face_photos


def test_erase_all_overwrites_every_held_face(still_parts: FaceParts) -> None:
    """What the loop calls when the site turns face mode off (tests/device/test_runtime.py)."""
    from .conftest import NOW

    checker = DispenserFaceChecker(still_parts, expiry_interval=3600)
    for person in ("astronaut", "grace_hopper"):
        frame = face_photos.variant(person, "base")
        assert checker.check([frame], now=NOW, window_seconds=540).outcome is Outcome.DISPENSE
    assert checker.held == 2
    checker.erase_all()
    assert checker.held == 0
    assert not checker._store._vectors.any()
    checker.close()


def test_face_mode_turns_off_core_dumps(still_parts: FaceParts) -> None:
    import resource

    DispenserFaceChecker(still_parts).close()
    assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)


def test_camera_frames_are_overwritten_once_processed(live_parts: FaceParts) -> None:
    from .conftest import NOW

    handed_out: list[np.ndarray] = []
    scene = face_photos.turning_burst("group_6", seed=2)

    def read() -> np.ndarray | None:
        if len(handed_out) == len(scene):
            return None
        handed_out.append(scene[len(handed_out)].copy())
        return handed_out[-1]

    checker = DispenserFaceChecker(live_parts, expiry_interval=3600)
    assert checker.scan(read, now=NOW, window_seconds=540).outcome is Outcome.DISPENSE
    checker.close()
    assert handed_out and all(not frame.any() for frame in handed_out)


class RecordingEmbedder:
    """The real embedder, keeping a reference to each face it aligns (to inspect)."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.dimension = real.dimension  # type: ignore[attr-defined]
        self.threshold = real.threshold  # type: ignore[attr-defined]
        self.aligned: list[object] = []

    def align(self, image: np.ndarray, box: object) -> object:
        face = self.real.align(image, box)  # type: ignore[attr-defined]
        self.aligned.append(face)
        return face

    def embed(self, face: object) -> np.ndarray:
        return self.real.embed(face)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("broken", [False, True])
def test_face_cut_outs_are_zeroed_after_the_decision_or_an_error(
    still_parts: FaceParts, broken: bool
) -> None:
    from device.face.pipeline import FaceParts as Parts
    from device.face.pipeline import FrameError, decide_face
    from device.face.store import EmbeddingStore

    from .conftest import NOW

    recorder = RecordingEmbedder(still_parts.embedder)
    parts = Parts(still_parts.detector, recorder, liveness_after(2))  # type: ignore[arg-type]
    frames: list[object] = [face_photos.variant("group_3", "base")] * 2
    if broken:
        frames.append(np.zeros((4, 4), np.uint8))  # visited second: first and last go first
        with pytest.raises(FrameError):
            decide_face(frames, EmbeddingStore(), parts, 540, NOW)  # type: ignore[arg-type]
    else:
        decide_face(frames, EmbeddingStore(), parts, 540, NOW)  # type: ignore[arg-type]
    assert recorder.aligned
    assert all(not face.chip.any() and not face.points.any() for face in recorder.aligned)  # type: ignore[attr-defined]


def liveness_after(count: int) -> object:
    from device.face.liveness import ParallaxLiveness

    return ParallaxLiveness(min_turn=0.0, min_frames=count)
