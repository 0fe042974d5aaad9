"""Face pairs for accuracy figures: embeddings of photo variants, pair distances, rates.

Shared by the accuracy test (tests/device/face/test_accuracy.py) and the benchmark that
prints the figures (bench/face_accuracy.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from device.face.pipeline import FaceParts
from device.face.types import Embedding
from tests import face_photos

Key = tuple[str, str]  # (person, variant)


def embed_all(
    parts: FaceParts, people: Sequence[str], variants: Sequence[str], min_face_px: int = 80
) -> tuple[dict[Key, Embedding], list[Key]]:
    """Embeddings of every (person, variant) frame, and the frames with no usable face."""
    found: dict[Key, Embedding] = {}
    missed: list[Key] = []
    for person, name in itertools.product(people, variants):
        frame = face_photos.variant(person, name)
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        boxes = [b for b in parts.detector.detect(rgb) if b.width >= min_face_px]
        if not boxes:
            missed.append((person, name))
            continue
        face = parts.embedder.align(rgb, max(boxes, key=lambda b: b.area))
        found[(person, name)] = parts.embedder.embed(face)
    return found, missed


def pair_distances(found: dict[Key, Embedding]) -> tuple[list[float], list[float]]:
    """Distances of all genuine pairs and of all impostor pairs."""
    genuine: list[float] = []
    impostor: list[float] = []
    for (a, va), (b, vb) in itertools.combinations(found.items(), 2):
        distance = float(np.linalg.norm(va - vb))
        (genuine if a[0] == b[0] else impostor).append(distance)
    return genuine, impostor


def rates(
    genuine: Sequence[float], impostor: Sequence[float], threshold: float
) -> dict[str, float]:
    """False match and false non-match rates at `threshold`."""
    return {
        "threshold": threshold,
        "false_match_rate": sum(d < threshold for d in impostor) / max(len(impostor), 1),
        "false_non_match_rate": sum(d >= threshold for d in genuine) / max(len(genuine), 1),
    }
