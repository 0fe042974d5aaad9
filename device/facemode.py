"""The seam between the dispenser loop and on-device face matching (``device.face``).

The loop holds one face component, a ``FaceChecker``; ``load_face_checker`` builds it
with ``device.face.make_checker()`` when ``device.face.availability()`` says the models
are installed. Without it, the "use face" button is not shown.

The loop hands the checker a frame reader (``camera.read`` wrapped by
``bounded_reader``), so frames are processed as they arrive and the scan ends as soon
as the checker has decided. Nothing from a face passes through this module except
those frames; the ``FaceVerdict`` a scan returns carries no image, box or embedding
and goes unchanged to ``device.decide``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import numpy as np

from device.face.types import FaceVerdict

log = logging.getLogger("device.facemode")
Frame = np.ndarray
FrameReader = Callable[[], Frame | None]


class FaceChecker(Protocol):
    """On-device face matching for one dispenser (every method is required).

    ``burst_seconds`` and ``max_frames`` bound one scan. ``scan`` reads frames from
    ``read`` as they arrive (``None``: no frame yet), stops as soon as it can decide or
    the bounds are reached, keeps an embedding only in memory and only on a DISPENSE
    verdict, and overwrites the frames it read. ``undo_last`` forgets the face of the
    last DISPENSE verdict (the motor failed, or the dispense was refused for another
    reason). ``tick(now)`` erases faces whose window has ended. ``erase_all`` erases
    every held face (the site turned face mode off, or disabled the dispenser);
    ``close`` does so too and stops any timer, at shutdown.
    """

    burst_seconds: float
    max_frames: int

    def scan(self, read: FrameReader, *, now: datetime, window_seconds: int) -> FaceVerdict:
        """Scan the visitor in front of the camera and decide."""
        ...

    def undo_last(self) -> bool:
        """Forget the last DISPENSE verdict's face; True if it was still held."""
        ...

    def tick(self, now: datetime) -> int:
        """Erase faces whose window has ended at ``now``; how many."""
        ...

    def erase_all(self) -> None:
        """Erase every held face."""
        ...

    def close(self) -> None:
        """Erase every held face and stop (shutdown)."""
        ...


def bounded_reader(
    read: FrameReader,
    *,
    max_frames: int,
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> FrameReader:
    """``read``, but giving ``None`` after ``max_frames`` frames or ``seconds`` from now.

    The loop's own bound on what one scan may see from the camera, whatever the checker
    does: the camera is read for a face only during the scan the visitor agreed to.
    """
    deadline = clock() + seconds
    given = 0

    def bounded() -> Frame | None:
        nonlocal given
        if given >= max_frames or clock() > deadline:
            return None
        frame = read()
        if frame is not None:
            given += 1
        return frame

    return bounded


def load_face_checker() -> FaceChecker | None:
    """The face checker from ``device.face``, or None when face support is not installed."""
    from device import face

    available = face.availability()
    if not available.available:
        log.info("face mode unavailable: %s", available.reason)
        return None
    try:
        return face.make_checker()
    except Exception as exc:  # a broken model file must never stop the dispenser
        log.warning("face mode unavailable: %s", type(exc).__name__)
        return None
