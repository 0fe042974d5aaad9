"""The face path of the loop: consent screen, streaming scan, verdict, undo on failure.

``Dispenser`` mixes this in. After consent the next loop step hands the face checker a
bounded reader of the camera (``scan``) and waits for its verdict; no frame passes
through the loop itself. A site turning face mode off (or disabling the dispenser)
erases every held face at the next step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from device import messages
from device.decide import Attempt, Decision, Dispense, FaceOutcome
from device.facemode import FaceChecker, FaceVerdict, bounded_reader
from device.hardware import Hardware
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


class FaceFlow:
    """The face steps of the loop (mixed into ``Dispenser``)."""

    face: FaceChecker | None
    hw: Hardware
    remote: RemoteHolder
    jammed: bool
    _face_allowed: bool  # face mode was allowed at the last step (True at start: erase)
    _mode: Mode
    clock: Callable[[], datetime]

    def attempt(self, attempt: Attempt) -> Decision:
        raise NotImplementedError

    def _base(self) -> ScreenView:
        raise NotImplementedError

    def refresh_screen(self) -> None:
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
        return bool(
            remote
            and remote.enabled
            and remote.policy.face_mode_allowed
            and self.face is not None
            and self.hw.camera is not None
        )

    def _window_seconds(self) -> int:
        remote = self.remote.get()
        return max(1, remote.policy.window_seconds if remote is not None else 0)

    def _start_consent(self) -> None:
        if not self.face_offered() or self.face is None:
            return
        text = self.face.consent(self._window_seconds())
        title = messages.Text(getattr(text, "title_zh", ""), getattr(text, "title_en", ""))
        if not title.en:
            title = messages.FACE_CONSENT_TITLE
        view = with_text(self._base(), "consent", title, messages.Text(text.zh, text.en))
        view = replace(view, buttons=("consent_yes", "use_phone"))
        self._mode = Mode("consent", until=time.monotonic() + MODE_TIMEOUTS["consent"], view=view)

    def _handle_consent(self, agreed: bool) -> Decision | None:
        if self._mode.name != "consent" or not agreed or not self.face_offered():
            self._mode = Mode()
            return None
        assert self.face is not None
        view = replace(with_text(self._base(), "face", messages.FACE_LOOK), buttons=())
        # The scan runs at the next loop step; the visitor sees "look and turn" first.
        self._mode = Mode("face", until=time.monotonic() + self.face.burst_seconds, view=view)
        self.refresh_screen()
        return None

    def _scan_face(self) -> Decision | None:
        """Hand the checker a bounded camera reader, then act on its verdict."""
        self._mode.until = 0.0  # the scan itself is bounded; the view stays until the verdict
        face, camera = self.face, self.hw.camera
        if face is None or camera is None or not self.face_offered():
            self._mode = Mode()
            return None
        read = bounded_reader(camera.read, max_frames=face.max_frames, seconds=face.burst_seconds)
        try:
            verdict = face.scan(read, now=self.clock(), window_seconds=self._window_seconds())
        except Exception as exc:  # a face-check failure must not stop the dispenser
            log.error("face check failed: %s", type(exc).__name__)
            verdict = FaceVerdict(problem="face_unavailable")
        self._mode = Mode()
        return self._act_on_verdict(verdict)

    def _act_on_verdict(self, verdict: FaceVerdict) -> Decision | None:
        if verdict.problem:
            # No decision (no face, too dark, ...): nothing is counted; say what to do.
            text = messages.Text(verdict.message_zh, verdict.message_en)
            if not text.en:
                text = messages.refusal_text("face_unavailable")
            self._show_fixed("result", text, seconds=6)
            return None
        decision = self.attempt(FaceOutcome(verdict.seen_recently, verdict.available_at))
        failed = not isinstance(decision, Dispense) or self.jammed
        if failed and not verdict.seen_recently:
            # Refused before the motor, or the motor failed: the face must not count.
            undo = getattr(self.face, "undo_last", None)
            if undo is not None:
                undo()
        return decision

    def _guard_face_data(self, now: datetime) -> None:
        """Erase held faces when the site turned face mode off; expire ended windows."""
        if self.face is None:
            return
        remote = self.remote.get()
        allowed = bool(remote and remote.enabled and remote.policy.face_mode_allowed)
        if self._face_allowed and not allowed:
            self.face.erase_all()
            log.info("face mode is off here: every held face erased")
            if self._mode.name in ("consent", "face"):
                self._mode = Mode()
        self._face_allowed = allowed
        tick = getattr(self.face, "tick", None)
        if tick is not None:
            tick(now)
