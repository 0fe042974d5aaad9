"""The seam between the dispenser loop and on-device face matching (``device.face``).

The loop needs only what ``FaceChecker`` describes. Face support is offered only when
the site's policy allows it AND ``load_face_checker`` finds a working implementation:
``device.face.make_checker() -> FaceChecker`` (after ``device.face.availability()``
says its models are installed). Without it, the "use face" button is not shown.

The loop hands the checker a frame reader (``camera.read`` wrapped by
``bounded_reader``), so frames are processed as they arrive and the scan ends as soon
as the checker has decided. Nothing from a face passes through this module except
those frames; a verdict carries no image, box or embedding.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

log = logging.getLogger("device.facemode")
Frame = np.ndarray
FrameReader = Callable[[], Frame | None]


@dataclass(frozen=True)
class FaceVerdict:
    """The outcome of one face check.

    ``problem`` is empty when a face was checked; otherwise a short word such as
    ``no_face`` or ``too_dark`` (nothing was decided: the visitor may try again or use
    the phone), with a message for the visitor in both languages.
    """

    seen_recently: bool = False
    available_at: datetime | None = None
    problem: str = ""
    message_zh: str = ""
    message_en: str = ""


@dataclass(frozen=True)
class ConsentText:
    """The consent screen's text in both languages."""

    zh: str
    en: str
    title_zh: str = ""
    title_en: str = ""


class FaceChecker(Protocol):
    """On-device face matching for one dispenser.

    ``burst_seconds`` and ``max_frames`` bound one scan; ``consent`` returns the text
    shown before any capture, for the site's window. ``scan`` reads frames from ``read``
    as they arrive (``None``: no frame yet), stops as soon as it can decide or the
    bounds are reached, keeps an embedding only in memory and only on a "not seen"
    verdict, and overwrites the frames it read. ``erase_all`` erases every held face
    (the site turned face mode off, or disabled the dispenser).

    Optional: ``undo_last()`` forgets the face of the last scan's "not seen" verdict
    (the motor failed, or the dispense was refused for another reason), ``tick(now)``
    erases faces whose window has ended (a checker may also do that on its own
    timer), and ``close()`` erases everything at shutdown. ``ConsentText`` titles are
    optional too.
    """

    burst_seconds: float
    max_frames: int

    def consent(self, window_seconds: int) -> ConsentText: ...

    def scan(self, read: FrameReader, *, now: datetime, window_seconds: int) -> FaceVerdict: ...

    def erase_all(self) -> None: ...


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
    try:
        face = importlib.import_module("device.face")
    except ImportError as exc:
        log.info("face mode unavailable: %s", exc)
        return None
    try:
        availability = getattr(face, "availability", None)
        if availability is not None and not availability().available:
            log.info("face mode unavailable: %s", availability().reason)
            return None
        factory = getattr(face, "make_checker", None)
        if factory is not None:
            checker: FaceChecker = factory()
            return checker
    except Exception as exc:  # a missing model must never stop the dispenser
        log.warning("face mode unavailable: %s", type(exc).__name__)
        return None
    log.info("face mode unavailable: device.face offers no checker")
    return None
