"""One dispenser process running face mode, for the privacy tests to inspect.

Run as `python privacy_run.py STATE_DIR flow|restart`. It records every file the
Python side opens for writing and every socket it touches (audit hooks), logs at
DEBUG into STATE_DIR, writes its face events to an outbox file there as the
dispenser does, and prints one JSON line of counts. It never prints face data.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

WRITES: list[str] = []
SOCKETS: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & 0o3 != 0
        )
        if writing:
            WRITES.append(str(path))
    elif event.startswith("socket.") and event != "socket.getaddrinfo":
        SOCKETS.append(event)


def main(state: Path, phase: str) -> None:
    sys.addaudithook(_audit)
    crash = (state / "crash.log").open("w")
    faulthandler.enable(crash)
    logging.basicConfig(filename=state / "device.log", level=logging.DEBUG, force=True)
    log = logging.getLogger("device")

    from device.face import default_parts
    from device.face.events import face_event
    from device.face.replay import ReplayCamera
    from device.face.service import FaceMode, FacePolicy
    from tests import face_photos

    now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    window = 540
    mode = FaceMode(default_parts(), FacePolicy(allowed=True, window_seconds=window))
    held_at_start = mode.held
    bursts = (
        [("group_4", 0), ("group_4", 9), ("astronaut", 0)] if phase == "flow" else [("group_4", 0)]
    )
    outcomes = []
    with (state / "outbox.jsonl").open("a") as outbox:
        for second, (person, seed) in enumerate(bursts):
            camera = ReplayCamera(face_photos.turning_burst(person, seed=seed), fps=0)
            decision = mode.scan(camera.read, now + timedelta(seconds=second), consented=True)
            log.info("face visit: %s (%s)", decision.outcome.value, decision.reason.value)
            outcomes.append(decision.outcome.value)
            event = face_event(decision)
            if event is not None:
                outbox.write(json.dumps(event) + "\n")
        if phase == "flow":
            printed = ReplayCamera(face_photos.print_burst("group_3", seed=3), fps=0)
            decision = mode.scan(printed.read, now, consented=True)
            outcomes.append(decision.outcome.value)
            log.info("face visit: %s (%s)", decision.outcome.value, decision.reason.value)
    held_after_flow = mode.held
    mode.tick(now + timedelta(seconds=window + 5))
    summary = {
        "held_at_start": held_at_start,
        "held_after_flow": held_after_flow,
        "held_after_window": mode.held,
        "outcomes": outcomes,
        "writes": WRITES,
        "sockets": SOCKETS,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
