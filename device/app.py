"""Wires a dispenser together from its config and runs it until a signal stops it."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import numpy as np

from device.api import DeviceApi, request_visitor_token
from device.config import DeviceConfig
from device.facemode import load_face_checker
from device.hardware import Hardware, build_hardware
from device.hardware.camera import SimulatedCamera
from device.hardware.screen import KioskDisplay
from device.kiosk.server import KioskServer
from device.runtime import Clock, Dispenser
from device.state import NotEnrolled, RemoteHolder, open_store, read_key
from device.store import Store
from device.sync import Syncer
from protocol.clock import utcnow

log = logging.getLogger("device.app")


@dataclass
class Running:
    """A wired dispenser and the services around it."""

    dispenser: Dispenser
    store: Store
    hardware: Hardware
    syncer: Syncer | None
    kiosk: KioskServer | None
    stop_event: threading.Event

    def start_services(self) -> None:
        """Start the sync thread and the kiosk server."""
        if self.syncer is not None:
            self.syncer.start()
        if self.kiosk is not None:
            self.kiosk.start()
            log.info("kiosk page at %s", self.kiosk.url)

    def stop(self) -> None:
        """Stop everything and release the hardware."""
        self.stop_event.set()
        if self.syncer is not None:
            self.syncer.stop()
        if self.kiosk is not None:
            self.kiosk.stop()
        face = self.dispenser.face
        if face is not None:
            # Erase every face held in memory (close also stops the checker's timer).
            face.close()
        self.hardware.close()
        self.store.close()


def build(
    config: DeviceConfig,
    *,
    pin_factory: Any = None,
    clock: Clock = utcnow,
    hardware: Hardware | None = None,
    require_enrollment: bool = True,
) -> Running:
    """Build the dispenser, its sync and its kiosk server (not started yet)."""
    state_dir = config.state_path
    store = open_store(state_dir)
    remote = RemoteHolder(store)
    server = store.get_setting("server_url")
    try:
        key = read_key(state_dir)
    except NotEnrolled:
        if require_enrollment:
            store.close()
            raise
        key = None
    hw = hardware or build_hardware(config, pin_factory=pin_factory)
    api = DeviceApi(server, key, timeout=config.sync.timeout_seconds) if server and key else None
    dispenser = Dispenser(
        config=config,
        store=store,
        remote=remote,
        hardware=hw,
        api=api,
        face=load_face_checker(),
        clock=clock,
    )
    syncer = None
    if api is not None:
        syncer = Syncer(
            api,
            store,
            remote,
            dispenser.status,
            clock=clock,
            batch_size=config.sync.batch_size,
            retry_seconds=config.sync.retry_seconds,
        )
        dispenser.syncer = syncer
    kiosk = None
    if isinstance(hw.display, KioskDisplay):
        sim = hw.camera if isinstance(hw.camera, SimulatedCamera) and config.simulation else None
        try:
            kiosk = KioskServer(
                hw.display,
                hw.inputs,
                host=config.screen.host,
                port=config.screen.port,
                sim_camera=sim,
                sim_visitor=_sim_visitor(store) if sim is not None else None,
                sim_face=_sim_face if sim is not None and dispenser.face is not None else None,
            )
        except OSError as exc:
            hw.close()
            store.close()
            where = f"{config.screen.host}:{config.screen.port}"
            raise ValueError(
                f"cannot serve the kiosk page on {where} ({exc.strerror}); "
                "is another dispenser program running? (screen.port, or simulate --port)"
            ) from exc
    return Running(dispenser, store, hw, syncer, kiosk, threading.Event())


def _sim_face() -> Sequence[np.ndarray]:
    """A simulated visitor turning their head (a package photo; see device/face/scene.py)."""
    from device.face.scene import head_turn_scene

    return head_turn_scene()


def _sim_visitor(store: Store) -> Callable[[], dict[str, Any]]:
    """A simulated visitor's phone: asks the backend for a token for this dispenser."""

    def visit() -> dict[str, Any]:
        server, dispenser_id = store.get_setting("server_url"), store.get_setting("dispenser_id")
        if not server or not dispenser_id:
            raise ValueError("this dispenser is not enrolled")
        return request_visitor_token(server, dispenser_id)

    return visit


def run_forever(running: Running) -> None:
    """Run the loop in this thread until SIGINT or SIGTERM."""

    def stop(signum: int, frame: FrameType | None) -> None:
        running.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running.start_services()
    try:
        running.dispenser.run(running.stop_event)
    finally:
        running.stop()
