"""The face checker the dispenser loop loads with `device.face.make_checker()`.

It fits the loop's `FaceChecker` seam (`device/facemode.py`): after consent the
loop calls `scan(camera.read, ...)`, which processes frames as they arrive and
stops as soon as the head has turned (at most `max_frames` or `burst_seconds`).
`check` takes a burst captured beforehand instead. The checker holds the window's
faces in RAM, erases each when its window ends (`tick` from the loop, and a
background timer, so erasure does not wait for the next visitor), and overwrites
the frames it was given once it has decided.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from device.face.consent import consent_screen, instruction
from device.face.pipeline import BurstLimits, FaceParts, decide_face
from device.face.service import disable_core_dumps
from device.face.store import EmbeddingStore
from device.face.types import FaceDecision, Frame, Outcome
from protocol.clock import utcnow

DEFAULT_WINDOW_SECONDS = 540


@dataclass(frozen=True)
class FaceVerdict:
    """The loop's verdict, plus the plain-words reason for the kiosk.

    `problem` is empty when a face was checked, else a reason word (`too_dark`,
    `too_far`, `several_faces`, `no_face`, `not_live`, `no_frames`);
    `message_en` / `message_zh` say it to the visitor.
    """

    seen_recently: bool = False
    available_at: datetime | None = None
    problem: str = ""
    message_en: str = ""
    message_zh: str = ""


@dataclass(frozen=True)
class ConsentText:
    """The consent screen as two blocks of text (the loop's `ConsentText`)."""

    zh: str
    en: str


class DispenserFaceChecker:
    """Face matching for one dispenser, in the shape the dispenser loop expects."""

    burst_seconds = 2.0
    max_frames = 60

    def __init__(
        self,
        parts: FaceParts,
        expiry_interval: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        disable_core_dumps()
        self._parts = parts
        self._store = EmbeddingStore(dimension=parts.embedder.dimension)
        # A captured burst has no time bound of its own; a scan of the camera has.
        self._burst_limits = BurstLimits(max_frames=self.max_frames, max_seconds=60.0)
        self._scan_limits = BurstLimits(max_frames=self.max_frames, max_seconds=self.burst_seconds)
        self._last_new: int | None = None  # the entry of the last scan's new face
        self.window_seconds = DEFAULT_WINDOW_SECONDS
        self._stop = threading.Event()
        self._expirer = threading.Thread(
            target=self._expire_forever, args=(expiry_interval, clock), daemon=True
        )
        self._expirer.start()

    @property
    def held(self) -> int:
        """How many faces are held now (a count, nothing more)."""
        return len(self._store)

    def consent(self, window_seconds: int | None = None, contact: str = "") -> ConsentText:
        """The consent screen for the site's window (the last one seen if not given)."""
        window = window_seconds or self.window_seconds
        blocks = []
        for language in ("zh-CN", "en"):
            screen = consent_screen(window, language, contact)
            sep = "" if language == "zh-CN" else " "
            blocks.append(sep.join((screen.title, *screen.paragraphs, instruction(language))))
        return ConsentText(zh=blocks[0], en=blocks[1])

    def check(self, frames: Sequence[Frame], *, now: datetime, window_seconds: int) -> FaceVerdict:
        """Decide on a captured burst; hold a new face until `now + window_seconds`."""
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.window_seconds = window_seconds
        try:
            decision = decide_face(
                frames, self._store, self._parts, window_seconds, now, self._burst_limits
            )
        finally:
            for frame in frames:  # the caller drops the burst next; leave nothing behind
                if frame is not None and frame.flags.writeable:
                    frame.fill(0)
        return self._verdict(decision)

    def scan(
        self, read: Callable[[], Frame | None], *, now: datetime, window_seconds: int
    ) -> FaceVerdict:
        """Like `check`, but reads the camera itself (for example `camera.read`).

        Frames are processed as they arrive and the scan ends as soon as the head
        has turned (at most `burst_seconds`, `max_frames`), which saves the capture
        time. Each frame read is overwritten with zeros once processed.
        """
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.window_seconds = window_seconds
        decision = decide_face(
            read, self._store, self._parts, window_seconds, now, self._scan_limits
        )
        return self._verdict(decision)

    def undo_last(self) -> bool:
        """Forget the face of the last "not seen" verdict (its dispense failed); True if held."""
        entry, self._last_new = self._last_new, None
        return entry is not None and self._store.discard(entry)

    def tick(self, now: datetime) -> int:
        """Erase faces whose window has ended at `now`; return how many."""
        return self._store.expire(now)

    def erase_all(self) -> None:
        """Erase every held face (call when the site turns face mode off)."""
        self._last_new = None
        self._store.erase_all()

    def close(self) -> None:
        """Stop the erasure timer and erase every held face."""
        self._stop.set()
        self._expirer.join(timeout=5)
        self._store.erase_all()

    def _expire_forever(self, interval: float, clock: Callable[[], datetime]) -> None:
        while not self._stop.wait(interval):
            self._store.expire(clock())

    def _verdict(self, decision: FaceDecision) -> FaceVerdict:
        """The loop's verdict; remembers a new face's entry so `undo_last` can forget it."""
        new = decision.outcome is Outcome.DISPENSE
        self._last_new = decision.entry_id if new else None
        return _verdict(decision)


def _verdict(decision: FaceDecision) -> FaceVerdict:
    """The loop's verdict for a face decision."""
    if decision.outcome is Outcome.NO_FACE:
        return FaceVerdict(
            problem=decision.reason.value,
            message_en=decision.message_en,
            message_zh=decision.message_zh,
        )
    return FaceVerdict(
        seen_recently=decision.outcome is Outcome.REFUSE,
        available_at=decision.available_again_at,
        message_en=decision.message_en,
        message_zh=decision.message_zh,
    )
