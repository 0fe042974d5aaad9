"""Time from the "use face" press (after consent) to the decision.

Run: .venv/bin/python bench/face_latency.py [--json]

Each visit is a replay camera at 30 fps showing a real photo (tests/face_photos.py)
warped into a head turning over about 0.8 s, as the kiosk asks; frames that go
by while the device is busy are dropped, as with a live camera. The clock starts
when the scan is asked for and stops when the decision is returned. Each of the
nine people visits three times: the first visit dispenses, the next two are
refused. Separately, a printed photo held up for the whole 2-second burst shows
the worst case (the device waits for movement that never comes).

`capture_then_check` times `make_checker().check(burst)`: the whole burst is
captured first (here the 0.8 s scene at 30 fps), then checked; the dispenser loop
streams instead (`scan`). bench/device_face.py times the loop itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

# Run as a script from anywhere: make the repository importable.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device.face import default_parts  # noqa: E402
from device.face.checker import DispenserFaceChecker  # noqa: E402
from device.face.replay import ReplayCamera  # noqa: E402
from tests import face_photos  # noqa: E402

FPS = 30.0
TURN_FRAMES = 24  # 0.8 s at 30 fps
PRINT_FRAMES = 75  # 2.5 s: longer than the burst limit


def _summary(seconds: list[float]) -> dict[str, float]:
    values = np.array(seconds)
    return {
        "visits": len(values),
        "median_s": round(float(np.median(values)), 3),
        "p95_s": round(float(np.percentile(values, 95)), 3),
        "max_s": round(float(values.max()), 3),
    }


def _capture_then_check(visits: list[tuple[str, list[np.ndarray]]], now: datetime) -> list[float]:
    """Capture the whole burst, then check it (the loop streams instead)."""
    checker = DispenserFaceChecker(default_parts())
    seconds = []
    for second, (_person, scene) in enumerate(visits):
        camera = ReplayCamera(scene, fps=FPS)
        started = time.perf_counter()
        burst = []
        while len(burst) < checker.max_frames:
            if time.perf_counter() - started > checker.burst_seconds:
                break
            frame = camera.read()
            if frame is None:
                break
            burst.append(frame)
        checker.check(burst, now=now + timedelta(seconds=second), window_seconds=540)
        seconds.append(time.perf_counter() - started)
    checker.close()
    return seconds


def _stages() -> dict[str, dict[str, float]]:
    """Median and p95 milliseconds of each step on 640x480 frames of real photos."""
    parts = default_parts()
    times: dict[str, list[float]] = {"detect": [], "align": [], "embed": []}
    for person in face_photos.PEOPLE:
        for name in ("base", "dim", "large"):
            rgb = np.ascontiguousarray(face_photos.variant(person, name)[:, :, ::-1])
            started = time.perf_counter()
            boxes = parts.detector.detect(rgb)
            times["detect"].append(time.perf_counter() - started)
            if not boxes:
                continue
            started = time.perf_counter()
            face = parts.embedder.align(rgb, max(boxes, key=lambda b: b.area))
            times["align"].append(time.perf_counter() - started)
            started = time.perf_counter()
            parts.embedder.embed(face)
            times["embed"].append(time.perf_counter() - started)
    return {
        step: {
            "median_ms": round(float(np.median(values)) * 1000, 1),
            "p95_ms": round(float(np.percentile(values, 95)) * 1000, 1),
        }
        for step, values in times.items()
    }


def main() -> None:
    """Print median and p95 press-to-decision times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    missing = face_photos.available()
    if missing:
        raise SystemExit(f"face photos unavailable: {missing}")
    checker = DispenserFaceChecker(default_parts())
    now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    # Prepare every scene first, so only the device's own work is timed.
    visits = [
        (person, face_photos.turning_burst(person, frames=TURN_FRAMES, seed=seed))
        for seed in range(3)
        for person in face_photos.PEOPLE
    ]
    timings: dict[str, list[float]] = {}
    for second, (_person, scene) in enumerate(visits):
        camera = ReplayCamera(scene, fps=FPS)
        started = time.perf_counter()
        decision = checker.scan(
            camera.read, now=now + timedelta(seconds=second), window_seconds=540
        )
        timings.setdefault(decision.outcome.value, []).append(time.perf_counter() - started)
    all_visits = [t for values in timings.values() for t in values]
    printed: list[float] = []
    for person in face_photos.PEOPLE[:3]:
        scene = face_photos.print_burst(person, frames=PRINT_FRAMES, seed=1)
        started = time.perf_counter()
        checker.scan(ReplayCamera(scene, fps=FPS).read, now=now, window_seconds=540)
        printed.append(time.perf_counter() - started)
    report: dict[str, dict[str, float]] = {
        **{f"step_{step}": figures for step, figures in _stages().items()},
        "all_turning_visits": _summary(all_visits),
        "capture_then_check_visits": _summary(_capture_then_check(visits, now)),
        **{f"{outcome}_visits": _summary(values) for outcome, values in timings.items()},
        "print_held_up": _summary(printed),
    }
    checker.close()
    if args.json:
        print(json.dumps(report))
        return
    for name, figures in report.items():
        print(f"{name}: " + "  ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
