"""A simulated dispenser for a laptop: simulated motor and paper, kiosk page, and a
webcam (if one opens) with the simulated camera on top."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import cv2

from device.api import DeviceApi, Enrollment, Offline
from device.config import CameraConfig, DeviceConfig, ScreenConfig
from device.hardware import Hardware, build_hardware
from device.hardware.camera import Camera, OpenCVCamera, SimulatedCamera
from device.state import DB_NAME, KEY_NAME, save_enrollment, stored_dispenser_id

log = logging.getLogger("device.simulate")
ENROLL_WAIT_SECONDS = 60.0


def simulated_config(state_dir: Path, port: int) -> DeviceConfig:
    """The config of a simulated dispenser keeping its state in ``state_dir``."""
    return DeviceConfig(
        state_dir=str(state_dir),
        simulation=True,
        camera=CameraConfig(type="simulated"),
        screen=ScreenConfig(type="kiosk", host="127.0.0.1", port=port),
    )


def _webcam() -> Camera | None:
    # A laptop without a webcam is normal here. On Linux, no /dev/video* means none at all;
    # elsewhere the probe runs with OpenCV silenced (it logs a failed probe as an ERROR).
    if sys.platform.startswith("linux") and not any(Path("/dev").glob("video*")):
        return None
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    camera = OpenCVCamera(0, 640, 480, 15)
    if camera.healthy and camera.read() is not None:
        return camera
    camera.close()
    return None


def simulated_hardware(config: DeviceConfig, camera: str) -> Hardware:
    """Simulated parts; the camera wraps a webcam when asked to (or when auto finds one)."""
    hardware = build_hardware(config)
    base = _webcam() if camera in ("webcam", "auto") else None
    if camera == "webcam" and base is None:
        raise ValueError("no webcam could be opened (try --camera simulated)")
    if base is not None:
        log.info("using the webcam; the simulated camera panel still works")
    hardware.camera = SimulatedCamera(base=base)
    return hardware


def _enroll_when_up(server: str, code: str) -> Enrollment:
    """Enroll, waiting for a backend that is still starting (as under `make run`)."""
    api = DeviceApi(server, timeout=5)
    deadline = time.monotonic() + ENROLL_WAIT_SECONDS
    while True:
        try:
            return api.enroll(code)
        except Offline:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def enroll_simulated(state_dir: Path, server: str, code: str) -> str:
    """Enroll (again) with a fresh code; start from clean state if the dispenser changed."""
    enrollment = _enroll_when_up(server, code)
    previous = stored_dispenser_id(state_dir)
    if previous is not None and previous != enrollment.dispenser_id:
        # A new demo database made a new dispenser: old events and spent tokens are not its.
        for suffix in ("", "-wal", "-shm"):
            (state_dir / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    remote = save_enrollment(state_dir, server, enrollment)
    return remote.dispenser_id


def simulate(*, server: str, code: str | None, state_dir: Path, port: int, camera: str) -> int:
    """Enroll if a code is given, then run the simulated dispenser until interrupted."""
    from device.app import build, run_forever

    config = simulated_config(state_dir, port)
    if code:
        dispenser_id = enroll_simulated(state_dir, server, code)
        log.info("enrolled as dispenser %s", dispenser_id)
    elif not (state_dir / KEY_NAME).exists():
        raise ValueError(f"{state_dir} holds no enrolled dispenser: pass --code CODE")
    running = build(config, hardware=simulated_hardware(config, camera))
    if running.kiosk is not None:
        print(f"Simulated dispenser's kiosk screen: {running.kiosk.url}", flush=True)
    run_forever(running)
    return 0
