"""Face mode as the dispenser program uses it: policy, consent gate, store life cycle."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from device.face import messages
from device.face.pipeline import DEFAULT_LIMITS, BurstLimits, FaceParts, FrameSource, decide_face
from device.face.store import EmbeddingStore
from device.face.types import FaceDecision, Outcome, Reason


def disable_core_dumps() -> None:
    """Stop this process from ever writing a core dump (it would hold face data)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class ConsentRequired(RuntimeError):
    """A face scan was asked for without the visitor's confirmed consent."""


@dataclass(frozen=True)
class FacePolicy:
    """The site's face settings, from the device configuration."""

    allowed: bool
    window_seconds: int


class FaceMode:
    """Holds the window's faces in RAM and scans a visitor only after consent.

    The store lives in this object only: a restart starts empty, turning face
    mode off erases it, and `tick` erases each entry when its window ends.
    Creating it turns off core dumps for the process, so a crash cannot put the
    store on disk.
    """

    def __init__(
        self,
        parts: FaceParts,
        policy: FacePolicy,
        store: EmbeddingStore | None = None,
        limits: BurstLimits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        disable_core_dumps()
        self._parts = parts
        self._store = (
            store if store is not None else EmbeddingStore(dimension=parts.embedder.dimension)
        )
        self._limits = limits
        self._clock = clock
        self.policy = policy
        self.set_policy(policy)

    @property
    def held(self) -> int:
        """How many faces the store holds now (a count, nothing more)."""
        return len(self._store)

    def set_policy(self, policy: FacePolicy) -> None:
        """Apply a new site policy; turning face mode off erases every held face."""
        if policy.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.policy = policy
        if not policy.allowed:
            self._store.erase_all()

    def scan(self, frames: FrameSource, now: datetime, consented: bool) -> FaceDecision:
        """Scan the visitor in front of the camera and decide (after consent only)."""
        if not self.policy.allowed:
            english, chinese = messages.message(Reason.FACE_MODE_OFF)
            return FaceDecision(Outcome.NO_FACE, Reason.FACE_MODE_OFF, english, chinese)
        if not consented:
            raise ConsentRequired("face scan without confirmed consent")
        return decide_face(
            frames,
            self._store,
            self._parts,
            self.policy.window_seconds,
            now,
            self._limits,
            self._clock,
        )

    def undo(self, decision: FaceDecision) -> None:
        """Forget the face of a dispense that then failed (jam, empty)."""
        if decision.outcome is Outcome.DISPENSE and decision.entry_id is not None:
            self._store.discard(decision.entry_id)

    def tick(self, now: datetime) -> int:
        """Erase faces whose window has ended; call from the device loop."""
        return self._store.expire(now)

    def close(self) -> None:
        """Erase every held face (shutdown)."""
        self._store.erase_all()
