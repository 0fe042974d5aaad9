"""The face path of the loop: consent screen, bounded burst, verdict, undo on failure.

``Dispenser`` mixes this in; it holds no face data beyond the burst list, which is
handed to the face checker and cleared at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from device import messages
from device.decide import Attempt, Decision, Dispense, FaceOutcome
from device.facemode import FaceChecker, FaceVerdict
from device.hardware.screen import ScreenView
from device.state import RemoteHolder
from device.views import with_text

log = logging.getLogger("device.faceflow")
MODE_TIMEOUTS = {"typing": 60.0, "help": 30.0, "consent": 60.0}


@dataclass
class Mode:
    """What the dispenser is doing now, and until when."""

    name: str = "idle"
    until: float = 0.0  # monotonic deadline of a timed mode
    view: ScreenView | None = None  # a fixed view (result, help, ...) while the mode lasts
    typed: str = ""
    burst: list[np.ndarray] = field(default_factory=list)


class FaceFlow:
    """The face steps of the loop (mixed into ``Dispenser``)."""

    face: FaceChecker | None
    remote: RemoteHolder
    jammed: bool
    _mode: Mode
    clock: Callable[[], datetime]

    def attempt(self, attempt: Attempt) -> Decision:
        raise NotImplementedError

    def _base(self) -> ScreenView:
        raise NotImplementedError

    def _show_fixed(
        self,
        mode: str,
        title: messages.Text,
        *,
        seconds: float,
        detail: messages.Text | None = None,
    ) -> None:
        raise NotImplementedError

    def face_offered(self) -> bool:
        """Whether "use face" is offered now: the policy allows it and support is installed."""
        remote = self.remote.get()
        return bool(remote and remote.policy.face_mode_allowed and self.face is not None)

    def _start_consent(self) -> None:
        if not self.face_offered() or self.face is None:
            return
        remote = self.remote.get()
        text = self.face.consent(remote.policy.window_seconds if remote is not None else 0)
        title = messages.Text(getattr(text, "title_zh", ""), getattr(text, "title_en", ""))
        if not title.en:
            title = messages.FACE_CONSENT_TITLE
        view = with_text(self._base(), "consent", title, messages.Text(text.zh, text.en))
        view = replace(view, buttons=("consent_yes", "use_phone"))
        self._mode = Mode("consent", until=time.monotonic() + MODE_TIMEOUTS["consent"], view=view)

    def _handle_consent(self, agreed: bool) -> Decision | None:
        if self._mode.name != "consent" or self.face is None or not agreed:
            self._mode = Mode()
            return None
        view = replace(with_text(self._base(), "face", messages.FACE_LOOK), buttons=())
        self._mode = Mode("face", until=time.monotonic() + self.face.burst_seconds, view=view)
        return None

    def _collect_face(self, frame: np.ndarray) -> None:
        assert self.face is not None
        mode = self._mode
        mode.burst.append(frame)
        if len(mode.burst) < self.face.max_frames and time.monotonic() < mode.until:
            return
        frames, self._mode = mode.burst, Mode()
        remote = self.remote.get()
        window = remote.policy.window_seconds if remote is not None else 0
        try:
            verdict = self.face.check(frames, now=self.clock(), window_seconds=max(1, window))
        except Exception as exc:  # a face-check failure must not stop the dispenser
            log.error("face check failed: %s", type(exc).__name__)
            verdict = FaceVerdict(problem="face_unavailable")
        finally:
            frames.clear()  # the burst is not kept a moment longer than the check
        if verdict.problem:
            # No decision (no face, too dark, ...): nothing is counted; say what to do.
            text = messages.Text(verdict.message_zh, verdict.message_en)
            if not text.en:
                text = messages.refusal_text("face_unavailable")
            self._show_fixed("result", text, seconds=6)
            return
        decision = self.attempt(FaceOutcome(verdict.seen_recently, verdict.available_at))
        failed = not isinstance(decision, Dispense) or self.jammed
        if failed and not verdict.seen_recently:
            # Refused before the motor, or the motor failed: the face must not count.
            undo = getattr(self.face, "undo_last", None)
            if undo is not None:
                undo()
