"""The embedding store: bounded, RAM-only, erased on time."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from device.face.store import EmbeddingStore

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=540)


def vector(seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)
    return values


def test_nearest_finds_the_added_face_until_its_window_ends() -> None:
    store = EmbeddingStore()
    entry = store.add(vector(1), NOW + WINDOW, NOW)
    match = store.nearest(vector(1), NOW + WINDOW - timedelta(seconds=1))
    assert match is not None and match.entry_id == entry and match.distance == 0.0
    assert match.expires_at == NOW + WINDOW
    assert store.nearest(vector(1), NOW + WINDOW) is None
    assert len(store) == 0


def test_expired_entry_is_overwritten_with_zeros() -> None:
    store = EmbeddingStore(capacity=4)
    store.add(vector(1), NOW + WINDOW, NOW)
    assert store.expire(NOW + WINDOW) == 1
    assert not store._vectors.any()


def test_erase_all_empties_the_store_and_its_memory() -> None:
    store = EmbeddingStore(capacity=8)
    for seed in range(5):
        store.add(vector(seed), NOW + WINDOW, NOW)
    store.erase_all()
    assert len(store) == 0
    assert store.nearest(vector(1), NOW) is None
    assert not store._vectors.any()


def test_store_never_grows_beyond_capacity_and_drops_the_oldest() -> None:
    store = EmbeddingStore(capacity=3)
    ids = [store.add(vector(i), NOW + WINDOW + timedelta(seconds=i), NOW) for i in range(5)]
    assert len(store) == 3
    assert store._vectors.shape == (3, 128)
    assert not store.discard(ids[0]) and not store.discard(ids[1])
    assert store.discard(ids[4])


def test_discard_removes_one_entry() -> None:
    store = EmbeddingStore()
    first = store.add(vector(1), NOW + WINDOW, NOW)
    store.add(vector(2), NOW + WINDOW, NOW)
    assert store.discard(first)
    match = store.nearest(vector(1), NOW)
    assert match is not None and match.entry_id != first


def test_store_cannot_be_pickled_and_repr_shows_counts_only() -> None:
    store = EmbeddingStore()
    store.add(vector(1), NOW + WINDOW, NOW)
    with pytest.raises(TypeError, match="RAM-only"):
        pickle.dumps(store)
    assert repr(store) == "EmbeddingStore(entries=1, capacity=1024)"


@pytest.mark.parametrize(
    "bad", [np.zeros(12, np.float32), np.full(128, np.nan, np.float32), np.zeros((2, 64))]
)
def test_malformed_embedding_is_rejected(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="128 finite numbers"):
        EmbeddingStore().add(bad, NOW + WINDOW, NOW)


def test_entry_must_expire_in_the_future() -> None:
    with pytest.raises(ValueError, match="after now"):
        EmbeddingStore().add(vector(1), NOW, NOW)
