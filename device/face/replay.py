"""A simulated camera that replays given frames as a live camera would show them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from device.face.types import Frame


class ReplayCamera:
    """Shows `frames` as a live scene filmed at `fps`, starting at the first read.

    Like a real camera, `read` returns the frame of the moment: it waits for the
    next frame if the current one was already read, and skips frames that went
    by while the caller was busy. After the scene's last frame it returns None.
    `fps=0` instead hands out every frame in order without waiting. Each read
    returns a copy, as a capture would.
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
        self._fps = fps
        self._clock = clock
        self._sleep = sleep
        self._last = -1
        self._started: float | None = None

    def read(self) -> Frame | None:
        """The frame of the moment, or None once the scene is over."""
        if self._fps == 0:
            index = self._last + 1
        else:
            index = self._current_index()
            if index == self._last:
                index += 1
                assert self._started is not None
                self._sleep(max(self._started + index / self._fps - self._clock(), 0.0))
        if index >= len(self._frames):
            return None
        self._last = index
        return self._frames[index].copy()

    def _current_index(self) -> int:
        now = self._clock()
        if self._started is None:
            self._started = now
        return int((now - self._started) * self._fps + 1e-6)  # 1e-6: float rounding
