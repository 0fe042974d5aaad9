"""A whole simulated dispenser with real face matching, driven through its kiosk's HTTP API.

The dispenser is the real program (``device.app.build``: loop, face checker from
``make_checker()``, ledger, sync, kiosk server); only the hardware is simulated. A
visitor is a real face photo shipped in an installed package, warped into a head turn
(``tests.face_photos.turning_burst``) and played to the simulated camera through
``/api/sim/play``, so the parallax liveness check is satisfied as by a live visitor.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2

from device.app import Running, build
from device.config import CameraConfig, DeviceConfig, ScanConfig, ScreenConfig
from tests import face_photos
from tests.device.helpers import http

SCENE_FRAMES = 24  # 0.8 s at 30 fps: the head turn the kiosk asks for
FPS = 30


def face_config(state_dir: Path) -> DeviceConfig:
    """A simulated dispenser with a kiosk page on an ephemeral port and a 30 fps camera."""
    return DeviceConfig(
        state_dir=str(state_dir),
        simulation=True,
        camera=CameraConfig(type="simulated", fps=FPS),
        screen=ScreenConfig(type="kiosk", port=0, result_seconds=1.0),
        scan=ScanConfig(repeat_seconds=0),
    )


def scene_body(person: str, seed: int = 0) -> bytes:
    """The ``/api/sim/play`` body: ``person`` turning their head, as JPEG frames."""
    frames = face_photos.turning_burst(person, frames=SCENE_FRAMES, seed=seed)
    encoded = []
    for frame in frames:
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        encoded.append(base64.b64encode(data.tobytes()).decode("ascii"))
    return json.dumps({"frames": encoded, "fps": FPS}).encode()


@dataclass
class FaceKiosk:
    """The running dispenser, its loop thread, and the kiosk's address."""

    running: Running
    thread: threading.Thread
    # When the scene played last is over: until then the camera still shows that visitor.
    scene_over_at: float = 0.0

    @property
    def url(self) -> str:
        assert self.running.kiosk is not None
        return self.running.kiosk.url

    def post(self, path: str, body: dict[str, Any] | bytes) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, answer = http(self.url + path, raw)
        assert status in (201, 202), (path, status, answer)
        return json.loads(answer)

    def press(self, button: str) -> None:
        """A visitor's press on the kiosk page."""
        self.post("/api/input", {"kind": "button", "value": button})

    def view(self) -> dict[str, Any]:
        status, raw = http(self.url + "/api/state")
        assert status == 200
        view: dict[str, Any] = json.loads(raw)["view"]
        return view

    def wait_for(self, check: Callable[[dict[str, Any]], bool], seconds: float = 15) -> Any:
        """The first view that passes ``check`` (polled), or an error naming the last one."""
        deadline = time.monotonic() + seconds
        view = self.view()
        while not check(view):
            if time.monotonic() > deadline:
                raise AssertionError(f"the kiosk never got there; it shows {view}")
            time.sleep(0.02)
            view = self.view()
        return view

    def visit(self, scene: bytes, tries: int = 3) -> dict[str, Any]:
        """Use face, agree, turn the head before the camera once the scan has started; the
        result view. A scan that decided nothing (the screen asks for another try: on a
        loaded CPU a 2-second scan may see too few frames of the turn) is tried again,
        as a visitor would."""
        for _ in range(tries):
            # The previous visitor steps away first: a scan may decide before their scene
            # has played out, and the next scan must not see the rest of it.
            time.sleep(max(0.0, self.scene_over_at - time.monotonic()))
            self.press("use_face")
            self.wait_for(lambda v: v["mode"] == "consent")
            self.press("consent_yes")
            self.wait_for(lambda v: v["mode"] == "face")
            self.post("/api/sim/play", scene)
            self.scene_over_at = time.monotonic() + SCENE_FRAMES / FPS + 0.1
            view: dict[str, Any] = self.wait_for(lambda v: v["mode"] == "result")
            if view["outcome"]:
                break
            self.wait_for(lambda v: v["mode"] != "result")
        return view

    def stop(self) -> None:
        self.running.stop_event.set()
        self.thread.join(timeout=10)
        self.running.stop()


def start_face_kiosk(config: DeviceConfig, clock: Callable[[], datetime]) -> FaceKiosk:
    """Build the dispenser from ``config`` and run its loop, sync and kiosk page."""
    running = build(config, clock=clock, require_enrollment=False)
    assert running.dispenser.face is not None, "face support is not installed"
    running.start_services()
    thread = threading.Thread(target=running.dispenser.run, args=(running.stop_event,))
    thread.start()
    return FaceKiosk(running, thread)
