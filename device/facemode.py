"""The seam between the dispenser loop and on-device face matching (``device.face``).

The loop needs only what ``FaceChecker`` describes. Face support is offered only when
the site's policy allows it AND ``load_face_checker`` finds a working implementation:
either ``device.face.make_checker() -> FaceChecker``, or the face package's
``availability()`` / ``default_parts()`` / ``service.FaceMode`` / ``consent``, wrapped
by ``FaceModeChecker`` below. Without either, the "use face" button is not shown.

Nothing from a face passes through this module except the frames handed to ``check``;
a verdict carries no image, box or embedding.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

log = logging.getLogger("device.facemode")
Frame = np.ndarray
DEFAULT_WINDOW_SECONDS = 540


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
    frames; ``undo_last`` forgets the face of the last dispense when the motor failed;
    ``tick`` erases faces whose window has ended.
    """

    burst_seconds: float
    max_frames: int

    def consent(self, window_seconds: int) -> ConsentText: ...

    def check(
        self, frames: Sequence[Frame], *, now: datetime, window_seconds: int
    ) -> FaceVerdict: ...

    def undo_last(self) -> None: ...

    def tick(self, now: datetime) -> None: ...


class FaceModeChecker:
    """``FaceChecker`` over the face package's ``FaceMode`` (imported at run time)."""

    burst_seconds = 2.0
    max_frames = 60

    def __init__(self, face: Any, service: Any, consent: Any) -> None:
        self._service = service
        self._consent = consent
        policy = service.FacePolicy(allowed=True, window_seconds=DEFAULT_WINDOW_SECONDS)
        self._mode = service.FaceMode(face.default_parts(), policy)
        self._last: Any = None

    def consent(self, window_seconds: int) -> ConsentText:
        """The consent screen's title and text in both languages."""
        window = window_seconds or DEFAULT_WINDOW_SECONDS
        zh = self._consent.consent_screen(window, "zh-CN")
        en = self._consent.consent_screen(window, "en")
        return ConsentText(
            zh="\n".join(zh.paragraphs),
            en="\n".join(en.paragraphs),
            title_zh=zh.title,
            title_en=en.title,
        )

    def check(self, frames: Sequence[Frame], *, now: datetime, window_seconds: int) -> FaceVerdict:
        """Scan the burst (the visitor has consented) and turn the decision into a verdict."""
        window = window_seconds or DEFAULT_WINDOW_SECONDS
        if self._mode.policy.window_seconds != window:
            self._mode.set_policy(self._service.FacePolicy(allowed=True, window_seconds=window))
        decision = self._mode.scan(list(frames), now, consented=True)
        outcome = decision.outcome.value
        self._last = decision if outcome == "dispense" else None
        if outcome == "dispense":
            return FaceVerdict(seen_recently=False)
        if outcome == "refuse":
            return FaceVerdict(seen_recently=True, available_at=decision.available_again_at)
        return FaceVerdict(
            problem=str(decision.reason.value),
            message_zh=str(decision.message_zh),
            message_en=str(decision.message_en),
        )

    def undo_last(self) -> None:
        """Forget the face of the last dispense (the motor did not deliver)."""
        if self._last is not None:
            self._mode.undo(self._last)
            self._last = None

    def tick(self, now: datetime) -> None:
        """Erase faces whose window has ended."""
        self._mode.tick(now)


def _face_mode_checker(face: Any) -> FaceChecker | None:
    availability = face.availability()
    if not availability.available:
        log.info("face mode unavailable: %s", availability.reason)
        return None
    service = importlib.import_module("device.face.service")
    consent = importlib.import_module("device.face.consent")
    return FaceModeChecker(face, service, consent)


def load_face_checker() -> FaceChecker | None:
    """The face checker from ``device.face``, or None when face support is not installed."""
    try:
        face = importlib.import_module("device.face")
    except ImportError as exc:
        log.info("face mode unavailable: %s", exc)
        return None
    try:
        factory = getattr(face, "make_checker", None)
        if factory is not None:
            checker: FaceChecker = factory()
            return checker
        if hasattr(face, "availability"):
            return _face_mode_checker(face)
    except Exception as exc:  # a missing model must never stop the dispenser
        log.warning("face mode unavailable: %s", type(exc).__name__)
        return None
    log.info("face mode unavailable: device.face offers no checker")
    return None
