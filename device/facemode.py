"""The seam between the dispenser loop and on-device face matching (``device.face``).

The loop needs only what ``FaceChecker`` describes. Face support is offered only when
the site's policy allows it AND ``load_face_checker`` finds an implementation: the
package ``device.face`` must expose ``make_checker() -> FaceChecker``.
Without it, the "use face" button is simply not shown.

Nothing from a face passes through this module except the frames handed to ``check``;
the verdict carries no image, box or embedding.
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
    ``no_face`` (nothing was decided, the visitor may try again or use the phone).
    """

    seen_recently: bool = False
    available_at: datetime | None = None
    problem: str = ""


@dataclass(frozen=True)
class ConsentText:
    """The consent screen's text in both languages."""

    zh: str
    en: str


class FaceChecker(Protocol):
    """On-device face matching for one dispenser.

    ``burst_seconds`` and ``max_frames`` bound the capture; ``consent`` returns the text
    shown before any capture; ``check`` takes the burst and the site's window, decides,
    keeps an embedding only in memory and only on a "not seen" verdict, and discards the
    frames.
    """

    burst_seconds: float
    max_frames: int

    def consent(self) -> ConsentText: ...

    def check(
        self, frames: Sequence[Frame], *, now: datetime, window_seconds: int
    ) -> FaceVerdict: ...


def load_face_checker() -> FaceChecker | None:
    """The face checker from ``device.face``, or None when face support is not installed."""
    try:
        module = importlib.import_module("device.face")
    except ImportError as exc:
        log.info("face mode unavailable: %s", exc)
        return None
    factory = getattr(module, "make_checker", None)
    if factory is None:
        log.info("face mode unavailable: device.face has no make_checker")
        return None
    try:
        checker: FaceChecker = factory()
    except Exception as exc:  # a missing model must never stop the dispenser
        log.warning("face mode unavailable: %s", type(exc).__name__)
        return None
    return checker
