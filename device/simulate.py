"""A simulated dispenser for a laptop: simulated motor and paper, kiosk page, and a
webcam (if one opens) with the simulated camera on top."""

from __future__ import annotations

import logging
from pathlib import Path

from device.config import CameraConfig, DeviceConfig, ScreenConfig
from device.hardware import Hardware, build_hardware
from device.hardware.camera import Camera, OpenCVCamera, SimulatedCamera
from device.state import KEY_NAME, enroll

log = logging.getLogger("device.simulate")


def simulated_config(state_dir: Path, port: int) -> DeviceConfig:
    """The config of a simulated dispenser keeping its state in ``state_dir``."""
    return DeviceConfig(
        state_dir=str(state_dir),
        simulation=True,
        camera=CameraConfig(type="simulated"),
        screen=ScreenConfig(type="kiosk", host="127.0.0.1", port=port),
    )


def _webcam() -> Camera | None:
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


def simulate(*, server: str, code: str | None, state_dir: Path, port: int, camera: str) -> int:
    """Enroll if needed, then run the simulated dispenser until interrupted."""
    from device.app import build, run_forever

    config = simulated_config(state_dir, port)
    if not (state_dir / KEY_NAME).exists():
        if not code:
            raise ValueError(f"{state_dir} holds no enrolled dispenser: pass --code CODE")
        remote = enroll(state_dir, server, code)
        log.info("enrolled as dispenser %s", remote.dispenser_id)
    running = build(config, hardware=simulated_hardware(config, camera))
    if running.kiosk is not None:
        print(f"Kiosk screen: {running.kiosk.url}", flush=True)
    run_forever(running)
    return 0
