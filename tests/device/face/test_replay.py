"""The replay camera behaves like a live camera: it waits, and it drops late frames."""

from __future__ import annotations

import numpy as np
import pytest

from device.face.replay import ReplayCamera

FRAMES = [np.full((2, 2, 3), i, np.uint8) for i in range(10)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_reads_wait_for_the_next_frame() -> None:
    clock = FakeClock()
    camera = ReplayCamera(FRAMES, fps=10, clock=clock, sleep=clock.sleep)
    seen = [int(camera.read()[0, 0, 0]) for _ in range(3)]  # type: ignore[index]
    assert seen == [0, 1, 2]
    assert clock.now == pytest.approx(100.2)


def test_a_slow_reader_skips_frames_and_the_scene_ends() -> None:
    clock = FakeClock()
    camera = ReplayCamera(FRAMES, fps=10, clock=clock, sleep=clock.sleep)
    assert int(camera.read()[0, 0, 0]) == 0  # type: ignore[index]
    clock.now += 0.45
    assert int(camera.read()[0, 0, 0]) == 4  # type: ignore[index]
    clock.now += 1.0
    assert camera.read() is None


def test_zero_fps_hands_out_every_frame_as_a_copy() -> None:
    camera = ReplayCamera(FRAMES, fps=0)
    frames = [camera.read() for _ in range(11)]
    assert frames[-1] is None
    assert all(f is not None and f is not FRAMES[i] for i, f in enumerate(frames[:10]))
    with pytest.raises(ValueError):
        ReplayCamera(FRAMES, fps=-1)
