"""The face component of the dispenser loop: `device.face.make_checker()` builds it.

It is the one way the dispenser reaches faces (the loop holds it as its `face`, see
the `FaceChecker` protocol in `device/facemode.py`): after consent the loop calls
`scan(camera.read, ...)`, which processes frames as they arrive and stops as soon as
the head has turned (at most `max_frames` or `burst_seconds`). `check` takes a burst
captured beforehand instead (the technician's tool and the benchmarks). The checker
holds the window's faces in RAM, erases each when its window ends (`tick` from the
loop, and a background timer, so erasure does not wait for the next visitor), and
overwrites the frames it was given once it has decided. Creating it turns core dumps
off for the process, so a crash cannot put the store on disk.
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from device.face.pipeline import BurstLimits, FaceParts, decide_face
from device.face.store import EmbeddingStore
from device.face.types import FaceVerdict, Frame, Outcome
from protocol.clock import utcnow


def disable_core_dumps() -> None:
    """Stop this process from ever writing a core dump (it would hold face data)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class DispenserFaceChecker:
    """Face matching for one dispenser: the loop's face component (`FaceChecker`)."""

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
        self._stop = threading.Event()
        self._expirer = threading.Thread(
            target=self._expire_forever, args=(expiry_interval, clock), daemon=True
        )
        self._expirer.start()

    @property
    def held(self) -> int:
        """How many faces are held now (a count, nothing more)."""
        return len(self._store)

    def check(self, frames: Sequence[Frame], *, now: datetime, window_seconds: int) -> FaceVerdict:
        """Decide on a captured burst; hold a new face until `now + window_seconds`."""
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        try:
            verdict = decide_face(
                frames, self._store, self._parts, window_seconds, now, self._burst_limits
            )
        finally:
            for frame in frames:  # the caller drops the burst next; leave nothing behind
                if frame is not None and frame.flags.writeable:
                    frame.fill(0)
        return self._remember(verdict)

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
        verdict = decide_face(
            read, self._store, self._parts, window_seconds, now, self._scan_limits
        )
        return self._remember(verdict)

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

    def _remember(self, verdict: FaceVerdict) -> FaceVerdict:
        """Note a new face's entry so `undo_last` can forget it; return the verdict."""
        new = verdict.outcome is Outcome.DISPENSE
        self._last_new = verdict.entry_id if new else None
        return verdict
