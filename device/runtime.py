"""The thin loop: read a frame or an input, ask ``decide``, act, update the screen."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from device import messages
from device.api import DeviceApi
from device.codes import check_code
from device.config import DeviceConfig
from device.decide import (
    MAX_CODE_DIGITS,
    AskBackend,
    Attempt,
    Decision,
    Dispense,
    DispensePress,
    QrScan,
    Refuse,
    Situation,
    TypedCode,
    decide,
)
from device.face import consent
from device.face.messages import headline, unusable
from device.face.types import FaceVerdict, Outcome, Reason
from device.facemode import FaceChecker, bounded_reader
from device.hardware import Hardware
from device.hardware.actuators import PAPER_LOW_PERCENT, MotorJam
from device.hardware.inputs import InputEvent
from device.hardware.screen import ScreenView
from device.qr import decode_frame
from device.state import RemoteHolder
from device.store import AlreadySpent, Store
from device.sync import Syncer
from device.views import Status, base_view, result_view, with_text
from protocol.clock import utcnow

log = logging.getLogger("device.runtime")

Clock = Callable[[], datetime]
MODE_TIMEOUTS = {"typing": 60.0, "help": 30.0, "consent": 60.0, "privacy": 120.0}
CONSENT_MODES = ("consent", "privacy")  # the visitor is reading about face mode


@dataclass
class Mode:
    """What the dispenser is doing now, and until when."""

    name: str = "idle"
    until: float = 0.0  # monotonic deadline of a timed mode
    view: ScreenView | None = None  # a fixed view (result, help, ...) while the mode lasts
    typed: str = ""


class Dispenser:
    """One dispenser: its hardware, ledger, backend link, face component and screen.

    ``face`` is the one face component (``FaceChecker``), or None where face support
    is not installed: the loop asks it to scan after consent, undoes its last face
    when a dispense fails, ticks it every step and erases it when the site turns face
    mode off.
    """

    def __init__(
        self,
        *,
        config: DeviceConfig,
        store: Store,
        remote: RemoteHolder,
        hardware: Hardware,
        api: DeviceApi | None = None,
        syncer: Syncer | None = None,
        face: FaceChecker | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.remote = remote
        self.hw = hardware
        self.api = api
        self.syncer = syncer
        self.face = face
        self.clock = clock
        self.jammed = False
        self.attempts = 0
        self._mode = Mode()
        # Recently seen QR payloads (hashed): when, and what the answer was.
        self._seen: dict[bytes, tuple[float, Dispense | Refuse | None]] = {}
        self._showing: bytes | None = None
        self._face_allowed = True  # face mode was allowed at the last step (True: erase)

    # --- facts ------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Whether the backend answered recently."""
        return self.syncer.online if self.syncer is not None else False

    def status(self) -> tuple[int, str]:
        """Paper level and the heartbeat status word."""
        level = self.hw.paper.level()
        if self.jammed:
            return level, "jam"
        if level <= 0:
            return level, "empty"
        if self.hw.camera is not None and not self.hw.camera.healthy:
            return level, "camera_fault"
        if level <= PAPER_LOW_PERCENT:
            return level, "low"
        return level, "ok"

    def situation(self, now: datetime) -> Situation:
        """What ``decide`` needs besides the attempt."""
        level, _ = self.status()
        return Situation(
            remote=self.remote.get(),
            spent=self.store,
            now=now,
            online=self.online,
            paper_empty=level <= 0,
            jammed=self.jammed,
            last_dispense_at=self.store.last_dispense_at(),
            clock_skew=timedelta(seconds=self.config.scan.clock_skew_seconds),
        )

    # --- attempts -----------------------------------------------------------------------

    def attempt(self, attempt: Attempt) -> Decision:
        """Decide on an attempt and carry the decision out; return the final decision."""
        now = self.clock()
        decision = decide(attempt, self.situation(now))
        if isinstance(decision, AskBackend):
            self._show_fixed("checking", messages.CHECKING, seconds=15)
            answer = check_code(self.api, decision.code)
            decision = decide(answer, self.situation(self.clock()))
        if isinstance(decision, Dispense | Refuse):
            decision = self.carry_out(decision, now)
        return decision

    def carry_out(self, decision: Dispense | Refuse, now: datetime) -> Dispense | Refuse:
        """Commit the event, then (for a dispense) turn the motor; show the result."""
        if isinstance(decision, Dispense):
            try:
                event_id = self.store.record_dispense(
                    method=decision.method,
                    now=now,
                    token_ref=decision.token_ref,
                    token_expires_at=decision.token_expires_at,
                )
            except AlreadySpent:
                decision = Refuse(decision.method, "already_used", token_ref=decision.token_ref)
            else:
                if decision.token_ref is not None and self.syncer is not None:
                    # The visitor's phone waits for this; report it while the motor turns.
                    self.syncer.report_soon(event_id)
        if isinstance(decision, Refuse):
            self.store.record_refusal(
                method=decision.method,
                reason=decision.reason,
                now=now,
                token_ref=decision.token_ref,
            )
        else:
            self._feed()
        log.info(
            "%s via %s%s",
            "dispensed" if isinstance(decision, Dispense) else "refused",
            decision.method,
            f" ({decision.reason})" if isinstance(decision, Refuse) else "",
        )
        self._show_result(decision, now)
        if self.syncer is not None:
            self.syncer.kick()
        return decision

    def _feed(self) -> None:
        remote = self.remote.get()
        portion = remote.policy.portion_cm if remote is not None else 0
        try:
            self.hw.motor.feed(portion)
        except MotorJam:
            # The event stays committed: a jam is reported, never retried into a double.
            self.jammed = True
            log.error("motor jam")
            return
        self.hw.paper.note_fed(portion)

    # --- frames ------------------------------------------------------------------------

    def handle_frame(self, frame: np.ndarray) -> Decision | None:
        """Look for a QR code in a frame; act on what is found."""
        if self._mode.name in (*CONSENT_MODES, "face"):
            return None  # no QR scanning while the visitor reads the consent or is scanned
        payload = decode_frame(frame, recover=self.config.scan.upscale_retry)
        if payload is None:
            return None
        key = hashlib.sha256(payload.encode("utf-8")).digest()
        seen, last = self._recently_seen(key)
        if seen:
            # A phone held still, or shown again: one attempt, but never a silent screen.
            self._show_again(key, last)
            return None
        decision = self.attempt(QrScan(payload))
        if isinstance(decision, Dispense | Refuse):
            self._seen[key] = (time.monotonic(), decision)
            self._showing = key
        return decision

    def _recently_seen(self, key: bytes) -> tuple[bool, Dispense | Refuse | None]:
        """Whether this payload was handled a moment ago, and what the answer was."""
        now = time.monotonic()
        horizon = self.config.scan.repeat_seconds
        self._seen = {k: v for k, v in self._seen.items() if now - v[0] < horizon}
        if key in self._seen:
            _, last = self._seen[key]
            self._seen[key] = (now, last)
            return True, last
        self._seen[key] = (now, None)
        return False, None

    def _show_again(self, key: bytes, last: Dispense | Refuse | None) -> None:
        """Show the last result of this code again, unless it is still on the screen."""
        if last is None or (self._mode.name == "result" and self._showing == key):
            return
        if isinstance(last, Refuse):
            self._show_result(last, self.clock())
        else:
            # Paper was given for this code a moment ago: say so, not "already used".
            self.attempts += 1
            view = replace(
                with_text(
                    self._base(), "result", messages.ALREADY_GIVEN, messages.ALREADY_GIVEN_NEXT
                ),
                outcome="dispense",
                attempt=self.attempts,
            )
            seconds = self.config.screen.result_seconds
            self._mode = Mode("result", until=time.monotonic() + seconds, view=view)
            self.refresh_screen()
        self._showing = key

    # --- input -------------------------------------------------------------------------

    def handle_input(self, event: InputEvent) -> Decision | None:
        """Act on a button, key, typed code or consent answer."""
        if event.kind == "code":
            self._mode = Mode()
            return self.attempt(TypedCode(event.value))
        if event.kind == "key":
            return self._handle_key(event.value)
        if event.kind == "consent":
            return self._handle_consent(event.value == "yes")
        if event.kind == "service":
            self._handle_service(event.value)
            return None
        if event.kind == "button":
            return self._handle_button(event.value)
        return None

    def _handle_button(self, name: str) -> Decision | None:
        if name == "dispense":
            return self.attempt(DispensePress())
        if name == "type_code":
            if not self.online:
                self._show_fixed("result", messages.refusal_text("offline"), seconds=10)
                return None
            self._mode = Mode("typing", until=time.monotonic() + MODE_TIMEOUTS["typing"])
        elif name == "help":
            self._show_fixed(
                "help", messages.HELP_TITLE, detail=messages.HELP, seconds=MODE_TIMEOUTS["help"]
            )
        elif name == "use_face":
            self._start_consent()
        elif name == "more_privacy":
            self._show_privacy()
        else:  # use_phone, consent_no, cancel: back to the scanning screen
            self._mode = Mode()
        return None

    def _handle_key(self, key: str) -> Decision | None:
        if self._mode.name != "typing":
            self._mode = Mode("typing")
        self._mode.until = time.monotonic() + MODE_TIMEOUTS["typing"]
        if key == "*":
            self._mode.typed = ""
        elif key == "#":
            code, self._mode = self._mode.typed, Mode()
            return self.attempt(TypedCode(code))
        elif key.isdigit() and len(self._mode.typed) < MAX_CODE_DIGITS:
            self._mode.typed += key
        return None

    def _handle_service(self, action: str) -> None:
        if action == "clear_jam":
            self.jammed = False
        elif action == "refill" and hasattr(self.hw.paper, "refill"):
            self.hw.paper.refill()

    # --- face ------------------------------------------------------------------------

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
        if not self.face_offered():
            return
        title, body, children = consent.first_screen(self._window_seconds())
        detail = messages.Text(f"{body.zh}\n{children.zh}", f"{body.en}\n{children.en}")
        view = with_text(self._base(), "consent", title, detail)
        view = replace(view, buttons=("consent_yes", "consent_no", "more_privacy"))
        self._mode = Mode("consent", until=time.monotonic() + MODE_TIMEOUTS["consent"], view=view)

    def _show_privacy(self) -> None:
        """The "More about privacy" screen: the full notice, with the same two choices."""
        if self._mode.name != "consent" or not self.face_offered():
            return
        title, notice = consent.full_notice(self._window_seconds())
        view = with_text(self._base(), "privacy", title, notice)
        view = replace(view, buttons=("consent_yes", "consent_no"))
        self._mode = Mode("privacy", until=time.monotonic() + MODE_TIMEOUTS["privacy"], view=view)

    def _handle_consent(self, agreed: bool) -> Decision | None:
        if self._mode.name not in CONSENT_MODES or not agreed or not self.face_offered():
            self._mode = Mode()
            return None
        seconds = self.face.burst_seconds if self.face is not None else 0.0
        look = messages.Text(consent.instruction("zh-CN"), consent.instruction("en"))
        view = replace(with_text(self._base(), "face", messages.FACE_LOOK, look), buttons=())
        # The scan runs at the next loop step; the visitor sees "look and turn" first.
        self._mode = Mode("face", until=time.monotonic() + seconds, view=view)
        self.refresh_screen()
        return None

    def _scan_face(self) -> Decision | None:
        """Hand the face component a bounded camera reader, then act on its verdict."""
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
            verdict = unusable(Reason.UNAVAILABLE)
        self._mode = Mode()
        return self._act_on_verdict(face, verdict)

    def _act_on_verdict(self, face: FaceChecker, verdict: FaceVerdict) -> Decision | None:
        if verdict.outcome is Outcome.NO_FACE:
            # Nothing was decided (no face, too dark, a photo): nothing is counted.
            title_en, title_zh = headline(verdict.reason)
            advice = messages.Text(verdict.message_zh, verdict.message_en)
            self._show_fixed("result", messages.Text(title_zh, title_en), detail=advice, seconds=6)
            return None
        decision = self.attempt(verdict)
        if verdict.outcome is Outcome.DISPENSE and (
            not isinstance(decision, Dispense) or self.jammed
        ):
            # Refused before the motor, or the motor failed: the face must not count.
            face.undo_last()
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
            if self._mode.name in (*CONSENT_MODES, "face"):
                self._mode = Mode()
        self._face_allowed = allowed
        self.face.tick(now)

    # --- screen ------------------------------------------------------------------------

    def _base(self) -> ScreenView:
        level, status = self.status()
        facts = Status(
            online=self.online,
            paper_level=level,
            status=status,
            face_available=self.face is not None and self.hw.camera is not None,
            simulation=self.config.simulation,
        )
        return base_view(self.remote.get(), facts, self.clock())

    def _show_fixed(
        self,
        mode: str,
        title: messages.Text,
        *,
        seconds: float,
        detail: messages.Text | None = None,
    ) -> None:
        view = with_text(self._base(), mode, title, detail)
        self._mode = Mode(mode, until=time.monotonic() + seconds, view=view)
        self.refresh_screen()

    def _show_result(self, decision: Dispense | Refuse, now: datetime) -> None:
        self._showing = None
        self.attempts += 1
        view = result_view(self._base(), decision, self.attempts, now)
        seconds = self.config.screen.result_seconds
        self._mode = Mode("result", until=time.monotonic() + seconds, view=view)
        self.refresh_screen()

    def refresh_screen(self) -> None:
        """Show the current mode's view (timed modes fall back to idle when over)."""
        mode = self._mode
        if mode.name != "idle" and mode.until and time.monotonic() > mode.until:
            self._mode = mode = Mode()
        if mode.view is not None:
            view = mode.view
        elif mode.name == "typing":
            view = replace(
                with_text(self._base(), "typing", messages.TYPING), typed_digits=len(mode.typed)
            )
        else:
            view = self._base()
        self.hw.display.show(replace(view, attempt=self.attempts))

    # --- loop --------------------------------------------------------------------------

    def step(self) -> None:
        """One turn of the loop: pending inputs, then a face scan or one camera frame."""
        self._guard_face_data(self.clock())
        wait = 0.0 if self.hw.camera is not None else 0.1
        event = self.hw.inputs.get(timeout=wait)
        while event is not None:
            self.handle_input(event)
            event = self.hw.inputs.get()
        if self._mode.name == "face":
            self._scan_face()
        elif self.hw.camera is not None:
            frame = self.hw.camera.read()
            if frame is not None:
                self.handle_frame(frame)
            else:
                time.sleep(0.02)
        self.refresh_screen()

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set."""
        self.refresh_screen()
        while not stop.is_set():
            try:
                self.step()
            except Exception as exc:
                # Keep serving: the ledger is consistent after any failure (commit first).
                # Only the type is logged: a message could quote what a visitor showed.
                log.error("loop step failed: %s", type(exc).__name__)
                time.sleep(0.5)
