"""A small version of bench/face_accuracy.py: real faces, the chosen threshold."""

from __future__ import annotations

from device.face.pipeline import FaceParts
from tests import face_photos
from tests.face_pairs import embed_all, pair_distances, rates

VARIANTS = ["base", "dim_noisy_jpeg", "turn_left"]


def test_no_false_match_and_no_false_non_match_on_nine_people(still_parts: FaceParts) -> None:
    found, missed = embed_all(still_parts, face_photos.PEOPLE, VARIANTS)
    assert missed == []
    genuine, impostor = pair_distances(found)
    assert (len(genuine), len(impostor)) == (27, 324)
    result = rates(genuine, impostor, still_parts.embedder.threshold)
    assert result["false_match_rate"] == 0.0
    assert result["false_non_match_rate"] == 0.0
    # Margins on both sides of the threshold, not just luck at 0.5.
    assert max(genuine) < 0.45 < 0.55 < min(impostor)
