"""A real backend, a real dispenser program and a phone in Chromium, for the phone-follows
test and benchmark: the phone's screenshot is held before the dispenser's simulated camera."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FAIRROLL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]  # fmt: skip
PHONE = {"width": 390, "height": 844}
GET_PAPER = {"en": "Get paper", "zh": "取纸"}


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
def backend_and_dispenser(folder: Path) -> Iterator[Rig]:
    """Start the backend and an enrolled dispenser program; stop both afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_HOST")},
        "FAIRROLL_INSTANCE_PATH": str(folder),
        "FAIRROLL_PUBLIC_URL": url,
        "PYTHONPATH": str(ROOT),
    }

    def flask(*args: str) -> str:
        command = [sys.executable, "-m", "flask", "--app", "app", *args]
        done = subprocess.run(  # noqa: S603 - fixed command
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout

    flask("db", "upgrade")
    # One portion a second: every fresh phone gets paper at once.
    flask("sites", "create", "Bench Park", "--window", "1", "--min-interval", "0")
    created = json.loads(flask("dispensers", "create", "Bench Park", "--json"))
    command = [sys.executable, "-m", "flask", "--app", "app", "run", "--host", "127.0.0.1",
               "--port", str(port), "--no-reload", "--no-debugger"]  # fmt: skip
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
    try:
        _wait_for(url + "/healthz", server)
        state = folder / "dispenser"
        with dispenser_program(url, env, created["enrollment_code"], state) as kiosk:
            yield Rig(url, kiosk, created["public_id"])
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
