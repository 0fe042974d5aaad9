"""The seam's own parts: the bounded camera reader, and erasing faces when the program stops."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.app import build
from device.config import CameraConfig, DeviceConfig, ScreenConfig
from device.facemode import bounded_reader
from tests.device.test_runtime import NEW_FACE, FakeFaceChecker


def test_bounded_reader_stops_after_max_frames() -> None:
    frames = iter([None, np.zeros(1), None, np.ones(1), np.ones(1), np.ones(1)])
    read = bounded_reader(lambda: next(frames), max_frames=2, seconds=60)
    got = [read() for _ in range(6)]
    assert [frame is not None for frame in got] == [False, True, False, True, False, False]


def test_bounded_reader_stops_after_its_time_and_reads_nothing_more() -> None:
    clock = [100.0]
    reads: list[float] = []

    def camera() -> np.ndarray:
        reads.append(clock[0])
        return np.zeros(1)

    read = bounded_reader(camera, max_frames=99, seconds=2.0, clock=lambda: clock[0])
    assert read() is not None
    clock[0] = 102.5
    assert read() is None
    assert reads == [100.0]  # the camera is not even read past the bound


def test_stopping_the_program_erases_held_faces(tmp_path: Path) -> None:
    config = DeviceConfig(
        state_dir=str(tmp_path),
        camera=CameraConfig(type="none"),
        screen=ScreenConfig(type="console"),
    )
    running = build(config, require_enrollment=False)
    checker = FakeFaceChecker(NEW_FACE)
    running.dispenser.face = checker
    running.stop()
    assert checker.erased == 1
