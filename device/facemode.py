"""The seam between the dispenser loop and on-device face matching (``device.face``).

The loop needs only what ``FaceChecker`` describes. Face support is offered only when
the site's policy allows it AND ``load_face_checker`` finds a working implementation:
``device.face.make_checker() -> FaceChecker`` (after ``device.face.availability()``
says its models are installed). Without it, the "use face" button is not shown.

Nothing from a face passes through this module except the frames handed to ``check``;
a verdict carries no image, box or embedding.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

log = logging.getLogger("device.facemode")
Frame = np.ndarray


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

    ``burst_seconds`` and ``max_frames`` bound the capture; ``consent`` returns the text
    shown before any capture; ``check`` takes the burst and the site's window, decides,
    keeps an embedding only in memory and only on a "not seen" verdict, and discards the
    frames. Optional: ``undo_last()`` forgets the face of the last dispense when the
    motor failed, and ``tick(now)`` erases faces whose window has ended (a checker may
    do that on its own timer instead). ``ConsentText`` titles are optional too.
    """

    burst_seconds: float
    max_frames: int

    def consent(self, window_seconds: int) -> ConsentText: ...

    def check(
        self, frames: Sequence[Frame], *, now: datetime, window_seconds: int
    ) -> FaceVerdict: ...


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
