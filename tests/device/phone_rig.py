"""A real backend, a real dispenser program and a phone in Chromium, for the phone-follows
test and benchmark: the phone's screenshot is held before the dispenser's simulated camera."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.device.backend_process import BackendProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FAIRROLL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]  # fmt: skip
PHONE = {"width": 390, "height": 844}
GET_PAPER = {"en": "Get paper", "zh": "取纸"}


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


@dataclass
class Rig:
    """A running backend and dispenser program, and the dispenser's public id."""

    backend_url: str
    kiosk_url: str
    public_id: str


@contextmanager
def dispenser_program(
    backend_url: str, env: dict[str, str], enrollment_code: str, state_dir: Path
) -> Iterator[str]:
    """Run `python -m device simulate` enrolled with ``enrollment_code``; yield its kiosk URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "device", "simulate", "--server", backend_url,
        "--code", enrollment_code, "--state-dir", str(state_dir),
        "--port", str(port), "--camera", "simulated",
    ]  # fmt: skip
    log = (state_dir.parent / "dispenser.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
    try:
        kiosk = f"http://127.0.0.1:{port}/"
        _wait_for(kiosk, process)
        _wait_online(kiosk)
        yield kiosk
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def _wait_online(kiosk: str, seconds: float = 30) -> None:
    """Wait until the dispenser has reached the backend (its screen says online)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(kiosk + "api/state", timeout=15) as answer:  # noqa: S310
            state = json.loads(answer.read())
        if _is_online(state):
            return
        time.sleep(0.3)
    raise RuntimeError("the dispenser did not come online")


def _is_online(state: Any) -> bool:
    if isinstance(state, dict):
        if state.get("online") is True:
            return True
        return any(_is_online(value) for value in state.values())
    return False


def hold_to_camera(kiosk: str, png: bytes) -> None:
    """Put an image in front of the simulated camera (the kiosk's /api/sim/hold)."""
    request = urllib.request.Request(  # noqa: S310 - loopback only
        kiosk + "api/sim/hold", data=png, headers={"Content-Type": "image/png"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        if answer.status != 202:
            raise RuntimeError(f"the kiosk refused the image: {answer.status}")


def visit(page: Any, rig: Rig, lang: str = "en", timeout_ms: float = 30_000) -> float:
    """One visitor: get a code, show it to the camera; seconds until the phone says given."""
    page.goto(f"{rig.backend_url}/d/{rig.public_id}")
    page.get_by_role("button", name=GET_PAPER[lang]).click()
    page.wait_for_url(re.compile(r"/token$"))
    page.locator("svg.qr").wait_for()
    png = page.screenshot()
    held = time.perf_counter()
    hold_to_camera(rig.kiosk_url, png)
    page.locator("#given").wait_for(state="visible", timeout=timeout_ms)
    return time.perf_counter() - held


@contextmanager
def enrolled_dispenser(backend: BackendProcess, state_dir: Path) -> Iterator[Rig]:
    """On ``backend`` (started here): a site of one portion a second and no minimum
    interval, so every fresh phone gets paper at once, and the dispenser program enrolled
    at it."""
    backend.cli("sites", "create", "Follow Park", "--window", "1", "--min-interval", "0")
    created = backend.create_dispenser("Follow Park")
    backend.start()
    with dispenser_program(
        backend.url, backend.env, created["enrollment_code"], state_dir
    ) as kiosk:
        yield Rig(backend.url, kiosk, created["public_id"])


@contextmanager
def backend_and_dispenser(folder: Path) -> Iterator[Rig]:
    """Start the backend and an enrolled dispenser program; stop both afterwards."""
    (folder / "backend").mkdir()
    (folder / "dispenser").mkdir()
    backend = BackendProcess(folder / "backend")
    try:
        with enrolled_dispenser(backend, folder / "dispenser" / "state") as rig:
            yield rig
    finally:
        backend.stop()
