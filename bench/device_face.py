"""Face mode through the dispenser loop: from the "Agree" press to the decision on screen.

Run: .venv/bin/python bench/device_face.py [--json] [--rounds 3]

The real dispenser program (``device.app.build``: loop, ``make_checker()``, ledger)
runs in its own thread on simulated hardware. Each visit presses "use face", waits for
the consent screen, then presses "Agree, scan my face" and at the same moment plays a real photo
(tests/face_photos.py) warped into a head turn over 0.8 s to the simulated camera at
30 fps (frames that go by while the device is busy are skipped, as with a live
camera). The clock starts at the press and stops when the loop shows the result.
Nine people visit ``--rounds`` times each: the first visit dispenses, later ones are
refused. A printed photo held up shows the worst case (no head turn: the scan waits out
its bound and says so).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

# Run as a script from anywhere: make the repository importable.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device.app import Running, build  # noqa: E402
from device.config import CameraConfig, DeviceConfig, ScreenConfig  # noqa: E402
from device.hardware import Hardware  # noqa: E402
from device.hardware.actuators import SimulatedMotor, SimulatedPaperSensor  # noqa: E402
from device.hardware.camera import SimulatedCamera  # noqa: E402
from device.hardware.inputs import InputEvent, InputQueue, NoInput  # noqa: E402
from device.hardware.screen import ScreenView  # noqa: E402
from device.state import open_store  # noqa: E402
from protocol.ids import new_dispenser_public_id  # noqa: E402
from tests import face_photos  # noqa: E402

FPS = 30
TURN_FRAMES = 24  # 0.8 s at 30 fps
PRINT_FRAMES = 75  # 2.5 s: longer than the scan's bound
WINDOW = 540


class TimedDisplay:
    """A screen that notes when each view was first shown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._view = ScreenView()
        self._shown: list[tuple[float, ScreenView]] = []

    def show(self, view: ScreenView) -> None:
        """Keep the view and, if it changed mode or attempt, when it appeared."""
        with self._lock:
            if (view.mode, view.attempt) != (self._view.mode, self._view.attempt):
                self._shown.append((time.perf_counter(), view))
            self._view = view

    def current(self) -> ScreenView:
        """The view on screen now."""
        with self._lock:
            return self._view

    def first_after(self, started: float, mode: str) -> tuple[float, ScreenView] | None:
        """The first view in ``mode`` shown after ``started``."""
        with self._lock:
            for at, view in self._shown:
                if at >= started and view.mode == mode:
                    return at, view
        return None


def _dispenser(state_dir: Path, clock: list[datetime]) -> tuple[Running, TimedDisplay]:
    store = open_store(state_dir)
    doc = {
        "dispenser_id": new_dispenser_public_id(),
        "enabled": True,
        "site": {"name": "Bench", "timezone": "UTC"},
        "policy": {"window_seconds": WINDOW, "face_mode_allowed": True, "portion_cm": 60},
        "token_keys": [],
        "visitor_url": "http://127.0.0.1/d/bench",
    }
    store.set_setting("config_doc", json.dumps(doc))
    store.close()
    display = TimedDisplay()
    camera = SimulatedCamera(fps=FPS, seed=1)
    hardware = Hardware(
        camera=camera,
        motor=SimulatedMotor(),
        paper=SimulatedPaperSensor(roll_cm=100_000),
        display=display,
        inputs=InputQueue(),
        input_devices=[NoInput()],
    )
    config = DeviceConfig(
        state_dir=str(state_dir),
        camera=CameraConfig(type="simulated", fps=FPS),
        screen=ScreenConfig(type="console", result_seconds=0.5),
    )
    running = build(config, clock=lambda: clock[0], hardware=hardware, require_enrollment=False)
    if running.dispenser.face is None:
        raise SystemExit("face mode unavailable: pip install -e '.[device,face,test]'")
    if running.dispenser.remote.get() is None:
        raise SystemExit("the bench's site config was not accepted")
    return running, display


def _visit(running: Running, display: TimedDisplay, scene: list[np.ndarray]) -> tuple[float, str]:
    """One visit: seconds from "Agree" to the result, and the outcome shown."""
    inputs = running.hardware.inputs
    camera = running.hardware.camera
    assert isinstance(camera, SimulatedCamera)
    asked = time.perf_counter()
    inputs.put(InputEvent("button", "use_face"))
    while display.first_after(asked, "consent") is None:
        time.sleep(0.005)
    started = time.perf_counter()
    inputs.put(InputEvent("consent", "yes"))
    camera.play(scene, FPS)  # the visitor turns their head as they agree
    deadline = started + 30
    while (shown := display.first_after(started, "result")) is None:
        if time.perf_counter() > deadline:
            raise SystemExit(f"no result within 30 s; the screen shows {display.current()}")
        time.sleep(0.002)
    at, view = shown
    return at - started, view.outcome or "no_decision"


def _summary(seconds: list[float]) -> dict[str, Any]:
    values = np.array(seconds)
    return {
        "visits": len(values),
        "median_s": round(float(np.median(values)), 3),
        "p95_s": round(float(np.percentile(values, 95)), 3),
        "max_s": round(float(values.max()), 3),
    }


def main() -> None:
    """Print median and p95 "Agree"-to-decision times through the loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=3, help="visits per person (1-10)")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be between 1 and 10")
    missing = face_photos.available()
    if missing:
        raise SystemExit(f"face photos unavailable: {missing}")
    # Prepare every scene first, so only the device's own work is timed.
    visits = [
        face_photos.turning_burst(person, frames=TURN_FRAMES, seed=seed)
        for seed in range(args.rounds)
        for person in face_photos.PEOPLE
    ]
    prints = [
        face_photos.print_burst(p, frames=PRINT_FRAMES, seed=1) for p in face_photos.PEOPLE[:3]
    ]
    clock = [datetime.now(UTC)]
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as state_dir:
        running, display = _dispenser(Path(state_dir), clock)
        loop = threading.Thread(target=running.dispenser.run, args=(running.stop_event,))
        loop.start()
        try:
            for scene in visits:
                clock[0] += timedelta(seconds=1)
                seconds, outcome = _visit(running, display, scene)
                timings.setdefault(outcome, []).append(seconds)
            for scene in prints:
                timings.setdefault("print_held_up", []).append(_visit(running, display, scene)[0])
        finally:
            running.stop_event.set()
            loop.join(timeout=10)
            running.stop()
    turning = [t for outcome in ("dispense", "refuse") for t in timings.get(outcome, [])]
    report = {
        "all_turning_visits": _summary(turning),
        **{f"{outcome}_visits": _summary(values) for outcome, values in timings.items()},
        "expected": {
            "dispense": len(face_photos.PEOPLE),
            "refuse": len(visits) - len(face_photos.PEOPLE),
        },
    }
    if args.json:
        print(json.dumps(report))
        return
    for name, figures in report.items():
        print(f"{name}: " + "  ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
