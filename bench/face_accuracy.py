"""Face matching accuracy and liveness rates on real photos shipped in packages.

Run: .venv/bin/python bench/face_accuracy.py [--json]

Nine people (tests/face_photos.py), each seen in 16 camera-like variants
(scale, position, in-plane rotation, flat turn, mirror, light, noise, JPEG, blur
and combinations). Every pair of the same person is a genuine pair, every pair of
different people an impostor pair. At the matching threshold it prints:

- false match rate (FMR): impostor pairs closer than the threshold. In face
  mode a false match refuses paper to a newcomer who looks like someone served
  in the window.
- false non-match rate (FNMR): genuine pairs at or beyond the threshold. A
  false non-match lets the same person take a second portion.

Then the liveness check's rates on the landmark model (tests/face_geometry.py)
and on real photos moved like a print or warped like a turning head.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

# Run as a script from anywhere: make the repository importable.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device.face import default_parts  # noqa: E402
from device.face.liveness import ParallaxLiveness  # noqa: E402
from device.face.pipeline import FaceParts  # noqa: E402
from device.face.types import AlignedFace  # noqa: E402
from tests import face_geometry, face_photos  # noqa: E402
from tests.face_pairs import embed_all, pair_distances, rates  # noqa: E402


def live_rate(bursts: Iterable[Sequence[AlignedFace]], check: ParallaxLiveness) -> float:
    """The share of bursts the liveness check accepts."""
    verdicts = [check.is_live(burst) for burst in bursts]
    return sum(verdicts) / max(len(verdicts), 1)


def liveness_figures(parts: FaceParts, model_bursts: int = 400) -> dict[str, float]:
    """Acceptance rates of live turns and of prints, on the model and on real photos."""
    check = ParallaxLiveness()
    rng = np.random.default_rng(0)
    figures = {
        f"model_live_turn_{d}deg": live_rate(
            (face_geometry.live_burst(rng, d) for _ in range(model_bursts)), check
        )
        for d in (5, 8, 10, 15)
    }
    for tilt in (10, 20, 30):
        figures[f"model_print_tilt_{tilt}deg"] = live_rate(
            (face_geometry.print_burst(rng, tilt) for _ in range(model_bursts)), check
        )
    prints, turns = [], []
    for person, seed in itertools.product(face_photos.PEOPLE, range(3)):
        prints.append(_faces(face_photos.print_burst(person, seed=seed), parts))
        turns.append(_faces(face_photos.turning_burst(person, seed=seed), parts))
    figures["photo_print_held_up"] = live_rate(prints, check)
    figures["photo_warped_head_turn"] = live_rate(turns, check)
    return figures


def _faces(burst: list[face_photos.Image], parts: FaceParts) -> list[AlignedFace]:
    faces = []
    for frame in burst:
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        boxes = parts.detector.detect(rgb)
        if boxes:
            faces.append(parts.embedder.align(rgb, max(boxes, key=lambda b: b.area)))
    return faces


def main() -> None:
    """Print the figures (text, or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    missing = face_photos.available()
    if missing:
        raise SystemExit(f"face photos unavailable: {missing}")
    parts = default_parts(still_images=True)
    started = time.perf_counter()
    found, missed = embed_all(parts, face_photos.PEOPLE, list(face_photos.VARIANTS))
    genuine, impostor = pair_distances(found)
    threshold = parts.embedder.threshold
    report: dict[str, object] = {
        "people": len(face_photos.PEOPLE),
        "variants": len(face_photos.VARIANTS),
        "frames": len(found) + len(missed),
        "frames_without_usable_face": [f"{p}/{v}" for p, v in missed],
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "genuine_distance_max": round(max(genuine), 3),
        "genuine_distance_p99": round(float(np.percentile(genuine, 99)), 3),
        "impostor_distance_min": round(min(impostor), 3),
        "impostor_distance_p1": round(float(np.percentile(impostor, 1)), 3),
        "at_threshold": rates(genuine, impostor, threshold),
        "sweep": [rates(genuine, impostor, t) for t in (0.40, 0.45, 0.50, 0.55, 0.60)],
        "liveness": liveness_figures(parts),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        if key == "sweep":
            for row in value:  # type: ignore[attr-defined]
                print(
                    f"  threshold {row['threshold']:.2f}: FMR {row['false_match_rate']:.4f}"
                    f"  FNMR {row['false_non_match_rate']:.4f}"
                )
        elif key == "liveness":
            for name, rate in value.items():  # type: ignore[attr-defined]
                print(f"  liveness accepts {name}: {rate:.3f}")
        else:
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
