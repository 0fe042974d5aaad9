"""A simulated camera that replays given frames at a camera's frame rate."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from device.face.types import Frame


class ReplayCamera:
    """Plays `frames` in order, one per `1 / fps` seconds, then returns None.

    `read` blocks until the next frame is due, as a real camera's read does, so
    timings measured through it include the wait for frames. `fps=0` delivers
    every frame at once. Each read returns a copy, as a capture would.
    """

    def __init__(
        self,
        frames: Sequence[Frame],
        fps: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if fps < 0:
            raise ValueError("fps must not be negative")
        self._frames = frames
        self._interval = 1.0 / fps if fps else 0.0
        self._clock = clock
        self._sleep = sleep
        self._index = 0
        self._started: float | None = None

    def read(self) -> Frame | None:
        """The next frame when it is due, or None after the last one."""
        if self._index >= len(self._frames):
            return None
        now = self._clock()
        if self._started is None:
            self._started = now
        due = self._started + self._index * self._interval
        if due > now:
            self._sleep(due - now)
        frame = self._frames[self._index].copy()
        self._index += 1
        return frame
