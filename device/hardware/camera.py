"""Cameras: OpenCV capture, replay of recorded files, and a simulated camera."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from device.synthetic import camera_frame

Frame = np.ndarray
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


class Camera(Protocol):
    """A source of BGR frames.

    ``read`` returns the next frame, or None when no frame is available right now (the
    caller tries again later); ``healthy`` turns False when the device keeps failing, so
    the heartbeat can report ``camera_fault``. ``close`` releases the device.
    """

    @property
    def healthy(self) -> bool: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class OpenCVCamera:
    """A V4L2/USB/CSI camera read through OpenCV's VideoCapture."""

    FAILURES_BEFORE_FAULT = 30

    def __init__(self, device: int | str, width: int, height: int, fps: int) -> None:
        self._capture = cv2.VideoCapture(device)
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._capture.set(cv2.CAP_PROP_FPS, fps)
        # Keep only the newest frame: a stale queue would delay every decision.
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._failures = 0 if self._capture.isOpened() else self.FAILURES_BEFORE_FAULT

    @property
    def healthy(self) -> bool:
        """False after many failed reads in a row."""
        return self._failures < self.FAILURES_BEFORE_FAULT

    def read(self) -> Frame | None:
        """The newest frame, or None if the read failed."""
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self._failures += 1
            return None
        self._failures = 0
        return np.asarray(frame)

    def close(self) -> None:
        """Release the camera."""
        self._capture.release()


class ReplayCamera:
    """Frames from an image file, a folder of images (sorted by name) or a video file."""

    def __init__(self, path: Path | str, *, loop: bool = True, fps: float = 15.0) -> None:
        self.path = Path(path)
        self.loop = loop
        self._interval = 1.0 / fps if fps > 0 else 0.0
        self._next_at = 0.0
        self._images: list[Path] = []
        self._index = 0
        self._video: cv2.VideoCapture | None = None
        self._done = False
        if self.path.is_dir():
            self._images = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._images:
                raise ValueError(f"no images in {self.path}")
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self._images = [self.path]
        elif self.path.is_file():
            self._video = cv2.VideoCapture(str(self.path))
            if not self._video.isOpened():
                raise ValueError(f"{self.path} is not a video this program can read")
        else:
            raise ValueError(f"no such file or folder: {self.path}")

    @property
    def healthy(self) -> bool:
        """Replay never faults."""
        return True

    def read(self) -> Frame | None:
        """The next recorded frame, paced at the configured rate; None once all are shown."""
        if self._done:
            return None
        wait = self._next_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next_at = time.monotonic() + self._interval
        frame = self._next_video_frame() if self._video is not None else self._next_image()
        return frame

    def _next_image(self) -> Frame | None:
        if self._index >= len(self._images):
            if not self.loop:
                self._done = True
                return None
            self._index = 0
        path = self._images[self._index]
        self._index += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        return None if image is None else np.asarray(image)

    def _next_video_frame(self) -> Frame | None:
        assert self._video is not None
        ok, frame = self._video.read()
        if not ok and self.loop:
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._video.read()
        if not ok:
            self._done = True
            return None
        return np.asarray(frame)

    def close(self) -> None:
        """Release the video file, if any."""
        if self._video is not None:
            self._video.release()


def letterbox(image: Frame, size: tuple[int, int]) -> Frame:
    """``image`` scaled to fit ``size`` (width, height) without distortion, centred on grey."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    fitted = cv2.resize(
        image,
        (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    frame = np.full((height, width, 3), 128, np.uint8)
    top, left = (height - fitted.shape[0]) // 2, (width - fitted.shape[1]) // 2
    frame[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return frame


class SimulatedCamera:
    """An empty scene, or what a simulated visitor shows: a QR payload, an image or a scene.

    With a ``base`` camera (a webcam on a laptop) the base's frames are shown whenever
    nothing is held, so both a real phone and the simulation work.
    """

    def __init__(
        self,
        *,
        width: int = 640,
        height: int = 480,
        fps: float = 15.0,
        base: Camera | None = None,
        seed: int | None = None,
    ) -> None:
        self.size = (width, height)
        self.base = base
        self._interval = 1.0 / fps if fps > 0 else 0.0
        self._next_at = 0.0
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._held: str | Frame | None = None
        self._held_until = 0.0
        self._scene: list[Frame] = []
        self._scene_fps = 30.0
        self._scene_start = 0.0
        self._scene_loop_until = 0.0
        self._idle = camera_frame(None, self._rng, size=self.size)

    @property
    def healthy(self) -> bool:
        """Healthy unless a real base camera is failing."""
        return self.base.healthy if self.base is not None else True

    def hold_payload(self, payload: str, seconds: float = 3.0) -> None:
        """Show a phone displaying ``payload`` as a QR code for ``seconds``."""
        with self._lock:
            self._held, self._held_until = payload, time.monotonic() + seconds

    def hold_image(self, image: Frame, seconds: float = 3.0) -> None:
        """Show a still image (a screenshot of the visitor page, a photo) for ``seconds``.

        The image keeps its proportions (a portrait photo is not stretched, which would
        hide its face from the detector); the rest of the frame is grey.
        """
        frame = letterbox(image, self.size)
        with self._lock:
            self._held, self._held_until = frame, time.monotonic() + seconds

    def play(self, frames: Sequence[Frame], fps: float = 30.0, loop_seconds: float = 0.0) -> None:
        """Show a filmed scene (say, a visitor turning their head) from now on, at ``fps``.

        As with a live camera, a read returns the frame of the moment: frames that go by
        while the reader is busy are skipped. After the last frame the scene is over, or,
        with ``loop_seconds``, starts again until that many seconds have passed.
        """
        if fps <= 0:
            raise ValueError("fps must be positive")
        scene = [cv2.resize(f, self.size, interpolation=cv2.INTER_AREA) for f in frames]
        with self._lock:
            self._scene, self._scene_fps = scene, fps
            self._scene_start = time.monotonic()
            self._scene_loop_until = self._scene_start + loop_seconds

    def read(self) -> Frame | None:
        """The next frame, paced at the configured rate."""
        if self.base is None:
            wait = self._next_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._next_at = time.monotonic() + self._interval
        with self._lock:
            playing = self._scene_frame()
            held = self._held if time.monotonic() < self._held_until else None
        if playing is not None:
            return playing.copy()
        if isinstance(held, str):
            return camera_frame(held, self._rng, size=self.size)
        if held is not None:
            return held.copy()
        if self.base is not None:
            return self.base.read()
        return self._idle.copy()

    def _scene_frame(self) -> Frame | None:
        """The scene's frame of the moment, or None (no scene, or it is over)."""
        if not self._scene:
            return None
        now = time.monotonic()
        index = int((now - self._scene_start) * self._scene_fps)
        if now < self._scene_loop_until:
            index %= len(self._scene)
        if index >= len(self._scene):
            self._scene = []
            return None
        return self._scene[index]

    def close(self) -> None:
        """Close the base camera, if any."""
        if self.base is not None:
            self.base.close()
