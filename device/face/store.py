"""The embedding store: RAM only, bounded, each entry erased when its window ends."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from device.face.types import Embedding


@dataclass(frozen=True)
class StoreMatch:
    """The closest live entry to a probe face."""

    entry_id: int
    distance: float
    expires_at: datetime


class EmbeddingStore:
    """Face embeddings of the current window, held in one preallocated RAM block.

    The block (`capacity` x `dimension` float32) is allocated once, so the store
    can never grow; erasing an entry overwrites its row with zeros at once rather
    than waiting for the garbage collector. Nothing here is ever written to disk,
    pickled or printed (`repr` shows only counts). When full, the entry closest to
    its expiry is dropped to make room: that visitor could come back early, which
    is the lesser harm than refusing everybody (see docs/face.md).
    """

    def __init__(self, capacity: int = 1024, dimension: int = 128) -> None:
        if capacity < 1 or dimension < 1:
            raise ValueError("capacity and dimension must be positive")
        self.capacity = capacity
        self.dimension = dimension
        self._vectors: npt.NDArray[np.float32] = np.zeros((capacity, dimension), np.float32)
        self._expires: list[datetime | None] = [None] * capacity
        self._slot_of: dict[int, int] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EmbeddingStore(entries={len(self._slot_of)}, capacity={self.capacity})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("EmbeddingStore is RAM-only and cannot be pickled")

    def __len__(self) -> int:
        return len(self._slot_of)

    def expire(self, now: datetime) -> int:
        """Erase every entry whose window has ended at `now`; return how many."""
        with self._lock:
            return self._expire(now)

    def nearest(self, embedding: Embedding, now: datetime) -> StoreMatch | None:
        """The closest entry still inside its window, or None if the store is empty."""
        probe = self._check(embedding)
        with self._lock:
            self._expire(now)
            if not self._slot_of:
                return None
            ids = list(self._slot_of)
            slots = np.fromiter((self._slot_of[i] for i in ids), dtype=np.intp)
            distances = np.linalg.norm(self._vectors[slots] - probe, axis=1)
            best = int(np.argmin(distances))
            return StoreMatch(ids[best], float(distances[best]), self._expiry_of(ids[best]))

    def add(self, embedding: Embedding, expires_at: datetime, now: datetime) -> int:
        """Hold `embedding` until `expires_at`; return its entry id."""
        vector = self._check(embedding)
        if expires_at <= now:
            raise ValueError("expires_at must be after now")
        with self._lock:
            self._expire(now)
            slot = self._free_slot()
            self._vectors[slot] = vector
            self._expires[slot] = expires_at
            entry_id = self._next_id
            self._next_id += 1
            self._slot_of[entry_id] = slot
            return entry_id

    def discard(self, entry_id: int) -> bool:
        """Erase one entry now (for example when the motor failed); True if it existed."""
        with self._lock:
            slot = self._slot_of.pop(entry_id, None)
            if slot is None:
                return False
            self._wipe(slot)
            return True

    def erase_all(self) -> None:
        """Erase every entry (face mode turned off, shutdown)."""
        with self._lock:
            self._slot_of.clear()
            self._vectors.fill(0.0)
            self._expires = [None] * self.capacity

    def _check(self, embedding: Embedding) -> npt.NDArray[np.float32]:
        vector = np.asarray(embedding, dtype=np.float32)
        if vector.shape != (self.dimension,) or not np.all(np.isfinite(vector)):
            raise ValueError(f"embedding must be {self.dimension} finite numbers")
        return vector

    def _expire(self, now: datetime) -> int:
        ended = [i for i, s in self._slot_of.items() if _ends_by(self._expires[s], now)]
        for entry_id in ended:
            self._wipe(self._slot_of.pop(entry_id))
        return len(ended)

    def _free_slot(self) -> int:
        used = set(self._slot_of.values())
        for slot in range(self.capacity):
            if slot not in used:
                return slot
        # Full: drop the entry whose window ends first.
        victim = min(self._slot_of, key=self._expiry_of)
        slot = self._slot_of.pop(victim)
        self._wipe(slot)
        return slot

    def _expiry_of(self, entry_id: int) -> datetime:
        expires_at = self._expires[self._slot_of[entry_id]]
        assert expires_at is not None  # every slot in _slot_of has an expiry
        return expires_at

    def _wipe(self, slot: int) -> None:
        self._vectors[slot].fill(0.0)
        self._expires[slot] = None


def _ends_by(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now
