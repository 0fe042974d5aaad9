"""The dispenser against the real backend (own process, 127.0.0.1, ephemeral port, SQLite).

Tokens are issued by the backend's visitor API and shown to the device's camera as
rendered phone screens; events are checked in the backend's database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from device.api import Offline
from device.app import Running, build
from device.config import CameraConfig, DeviceConfig, ScanConfig, ScreenConfig
from device.decide import Dispense, Refuse
from device.hardware.inputs import InputEvent
from device.state import enroll
from device.synthetic import camera_frame
from protocol.token import parse_token
from tests.device.backend_process import BackendProcess


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    server = BackendProcess(tmp_path_factory.mktemp("backend"))
    server.start()
    yield server
    server.stop()


@dataclass
class Device:
    running: Running
    public_id: str
    rng: np.random.Generator

    def show(self, token: str) -> Dispense | Refuse | None:
        """Hold a phone showing ``token`` to the camera."""
        decision = self.running.dispenser.handle_frame(camera_frame(token, self.rng))
        assert decision is None or isinstance(decision, Dispense | Refuse)
        return decision

    def sync(self) -> None:
        assert self.running.syncer is not None
        self.running.syncer.sync_once()


@pytest.fixture
def device(backend: BackendProcess, tmp_path: Path) -> Iterator[Device]:
    if backend.process is None:
        backend.start()
    created = backend.create_dispenser("E2E Park")
    config = DeviceConfig(
        state_dir=str(tmp_path / "state"),
        camera=CameraConfig(type="none"),
        screen=ScreenConfig(type="console"),
        scan=ScanConfig(repeat_seconds=0),
    )
    remote = enroll(config.state_path, backend.url, created["enrollment_code"])
    assert remote.dispenser_id == created["public_id"]
    assert (config.state_path / "device.key").stat().st_mode & 0o777 == 0o600
    running = build(config)
    yield Device(running, created["public_id"], np.random.default_rng(11))
    running.stop()


def events_at_backend(backend: BackendProcess, public_id: str) -> list[tuple[str, str, str | None]]:
    return [
        (kind, method, ref)
        for kind, method, ref in backend.query(
            "SELECT e.kind, e.method, e.token_ref FROM device_event e "
            "JOIN dispenser d ON d.id = e.dispenser_id WHERE d.public_id = ? ORDER BY e.id",
            public_id,
        )
    ]


def ref_of(token: str) -> str:
    return parse_token(token)[0].token_ref()


def test_enroll_scan_dispense_and_the_event_arrives_exactly_once(backend, device) -> None:
    device.sync()
    assert device.running.syncer is not None and device.running.syncer.online
    token = backend.issue_token(device.public_id)["token"]
    decision = device.show(token)
    assert isinstance(decision, Dispense)
    assert device.running.hardware.motor.fed == [60]  # type: ignore[attr-defined]
    device.sync()
    device.sync()
    assert events_at_backend(backend, device.public_id) == [("dispense", "qr", ref_of(token))]
    # A retried batch (crash after upload, before marking) is counted once.
    assert device.running.store.pending_events(10) == []
    answer = device.running.syncer.api.post_events(  # type: ignore[union-attr]
        [{"event_id": "0" * 32, "kind": "dispense", "method": "face",
          "occurred_at": "2026-11-22T05:00:00+00:00"}] * 1
    )  # fmt: skip
    again = device.running.syncer.api.post_events(  # type: ignore[union-attr]
        [{"event_id": "0" * 32, "kind": "dispense", "method": "face",
          "occurred_at": "2026-11-22T05:00:00+00:00"}]
    )  # fmt: skip
    assert answer == {"accepted": 1, "duplicates": 0}
    assert again == {"accepted": 0, "duplicates": 1}
    # The heartbeat reported the paper level and status.
    status = backend.query(
        "SELECT paper_level, status FROM dispenser WHERE public_id = ?", device.public_id
    )
    assert status == [(100, "ok")]


def test_backend_down_qr_still_dispenses_and_events_arrive_later(backend, device) -> None:
    device.sync()
    tokens = [backend.issue_token(device.public_id)["token"] for _ in range(3)]
    backend.stop()
    try:
        for token in tokens:
            assert isinstance(device.show(token), Dispense)
        with pytest.raises(Offline):
            device.sync()
        assert device.running.store.pending_count() == 3
        # Typed codes need the network: the device says so.
        device.running.syncer._round()  # type: ignore[union-attr]
        assert not device.running.dispenser.online
        decision = device.running.dispenser.handle_input(InputEvent("code", "12345678"))
        assert decision == Refuse("code", "offline")
    finally:
        backend.start()
    device.sync()
    arrived = events_at_backend(backend, device.public_id)
    assert [e for e in arrived if e[0] == "dispense"] == [
        ("dispense", "qr", ref_of(token)) for token in tokens
    ]
    assert device.running.store.pending_count() == 0


def test_replayed_token_is_refused(backend, device) -> None:
    token = backend.issue_token(device.public_id)["token"]
    assert isinstance(device.show(token), Dispense)
    replay = device.show(token)
    assert isinstance(replay, Refuse) and replay.reason == "already_used"
    assert device.running.hardware.motor.fed == [60]  # type: ignore[attr-defined]
    device.sync()
    assert [e[0] for e in events_at_backend(backend, device.public_id)] == ["dispense", "refuse"]


def test_token_for_another_dispenser_is_refused(backend, device) -> None:
    other = backend.create_dispenser("E2E Park")["public_id"]
    token = backend.issue_token(other)["token"]
    decision = device.show(token)
    assert isinstance(decision, Refuse) and decision.reason == "wrong_dispenser"
    assert device.running.hardware.motor.fed == []  # type: ignore[attr-defined]


def test_typed_code_is_checked_online_and_works_once(backend, device) -> None:
    device.sync()
    issued = backend.issue_token(device.public_id)
    first = device.running.dispenser.handle_input(InputEvent("code", issued["code"]))
    assert isinstance(first, Dispense) and first.method == "code"
    assert first.token_ref == ref_of(issued["token"])
    second = device.running.dispenser.handle_input(InputEvent("code", issued["code"]))
    assert isinstance(second, Refuse) and second.reason == "code_invalid"
    # The same token shown as a QR afterwards is already spent locally.
    third = device.show(issued["token"])
    assert isinstance(third, Refuse) and third.reason == "already_used"


def test_key_rotation_reaches_the_device_through_config_refresh(backend, device) -> None:
    device.sync()
    syncer = device.running.syncer
    assert syncer is not None
    assert syncer.refresh_config() is False  # unchanged: 304 with the stored ETag
    old_keys = set(device.running.dispenser.remote.get().token_keys)  # type: ignore[union-attr]
    backend.stop()
    backend.cli("keys", "rotate")
    backend.start()
    syncer.heartbeat()  # the heartbeat carries the new ETag; the device fetches the config
    new_keys = set(device.running.dispenser.remote.get().token_keys)  # type: ignore[union-attr]
    assert old_keys < new_keys
    token = backend.issue_token(device.public_id)["token"]
    (new_kid,) = new_keys - old_keys
    assert parse_token(token)[0].key_id == new_kid[:1]  # a token names its key by one byte
    assert isinstance(device.show(token), Dispense)


def test_simulated_dispenser_command_serves_the_whole_flow(
    backend, tmp_path: Path, browser_page
) -> None:
    """`python -m device simulate` as `make run` starts it: enroll, kiosk page, dispense."""
    import subprocess
    import sys

    from tests.device.backend_process import ROOT, free_port

    if backend.process is None:
        backend.start()
    created = backend.create_dispenser("E2E Park")
    port = free_port()
    command = [
        sys.executable, "-m", "device", "simulate", "--server", backend.url,
        "--code", created["enrollment_code"], "--state-dir", str(tmp_path / "sim"),
        "--port", str(port), "--camera", "simulated",
    ]  # fmt: skip
    log = (tmp_path / "sim.log").open("wb")
    with subprocess.Popen(command, cwd=ROOT, env=backend.env, stdout=log, stderr=log) as sim:  # noqa: S603
        try:
            page = browser_page
            url = f"http://127.0.0.1:{port}/"
            for _ in range(100):
                try:
                    page.goto(url)
                    break
                except Exception:  # not listening yet
                    page.wait_for_timeout(200)
            page.wait_for_selector("[data-testid=network]:has-text('Online')", timeout=20000)
            page.click("[data-testid=sim-visitor]")
            page.wait_for_selector("main[data-mode=result][data-outcome=dispense]", timeout=20000)
            assert page.text_content("#title-en") == "Please take your paper"
            code = page.text_content("[data-testid=sim-code]")
            assert code is not None and "typed code" in code
            for _ in range(50):  # the sync thread uploads within a second or two
                if events_at_backend(backend, created["public_id"]):
                    break
                page.wait_for_timeout(200)
            [(kind, method, ref)] = events_at_backend(backend, created["public_id"])
            assert (kind, method) == ("dispense", "qr") and ref is not None
        finally:
            sim.terminate()
            sim.wait(timeout=15)
            log.close()
    assert sim.returncode == 0, (tmp_path / "sim.log").read_text()


def test_a_malformed_event_is_set_aside_and_does_not_block_the_outbox(backend, device) -> None:
    import json
    import sqlite3
    from contextlib import closing

    device.sync()
    good = backend.issue_token(device.public_id)["token"]
    bad = {"event_id": "f" * 32, "kind": "explode", "method": "qr",
           "occurred_at": "2026-11-22T05:00:00+00:00"}  # fmt: skip
    database = device.running.store.path
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.execute(
            "INSERT INTO outbox (event_id, kind, method, occurred_at, body) VALUES (?, ?, ?, ?, ?)",
            (bad["event_id"], "explode", "qr", bad["occurred_at"], json.dumps(bad)),
        )
    assert isinstance(device.show(good), Dispense)
    device.sync()
    assert events_at_backend(backend, device.public_id) == [("dispense", "qr", ref_of(good))]
    assert device.running.store.pending_count() == 0
    assert device.running.store.rejected_count() == 1


def test_unrestricted_dispenser_needs_no_token(backend, tmp_path: Path) -> None:
    if backend.process is None:
        backend.start()
    created = backend.create_dispenser("E2E Park", "--unrestricted")
    config = DeviceConfig(
        state_dir=str(tmp_path / "state"),
        camera=CameraConfig(type="none"),
        screen=ScreenConfig(type="console"),
    )
    remote = enroll(config.state_path, backend.url, created["enrollment_code"])
    assert remote.policy.unrestricted
    running = build(config)
    try:
        decision = running.dispenser.handle_input(InputEvent("button", "dispense"))
        assert decision == Dispense("unrestricted")
        assert running.syncer is not None
        running.syncer.sync_once()
        assert events_at_backend(backend, created["public_id"]) == [
            ("dispense", "unrestricted", None)
        ]
    finally:
        running.stop()


def make_device(backend: BackendProcess, created: dict[str, str], state: Path) -> Running:
    config = DeviceConfig(
        state_dir=str(state),
        camera=CameraConfig(type="none"),
        screen=ScreenConfig(type="console"),
    )
    enroll(config.state_path, backend.url, created["enrollment_code"])
    return build(config)


def test_presence_code_on_the_screen_is_accepted_by_the_backend(backend, tmp_path: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    if backend.process is None:
        backend.start()
    created = backend.create_dispenser("Presence Park", site_flags=("--presence",))
    running = make_device(backend, created, tmp_path / "state")
    try:
        running.dispenser.refresh_screen()
        url = running.hardware.display.current().presence_url
        assert url is not None and f"/d/{created['public_id']}?p=" in url
        code = parse_qs(urlsplit(url).query)["p"][0]
        with pytest.raises(RuntimeError, match=r"403|400|422"):
            backend.issue_token(created["public_id"])  # no presence code: refused
        token = backend.issue_token(created["public_id"], presence=code)["token"]
        frame = camera_frame(token, np.random.default_rng(3))
        assert isinstance(running.dispenser.handle_frame(frame), Dispense)
    finally:
        running.stop()


def test_wrong_typed_codes_are_throttled_by_the_backend(backend, device) -> None:
    device.sync()
    reasons = []
    for attempt in range(12):
        decision = device.running.dispenser.handle_input(InputEvent("code", f"{attempt:08d}"))
        assert isinstance(decision, Refuse)
        reasons.append(decision.reason)
        if decision.reason == "too_many_attempts":
            assert decision.retry_at is not None
            break
    assert reasons[0] == "code_invalid"
    assert reasons[-1] == "too_many_attempts"


def test_no_token_or_code_reaches_the_logs_or_the_screen(backend, device, caplog) -> None:
    import json
    import logging

    caplog.set_level(logging.DEBUG)
    device.sync()
    issued = backend.issue_token(device.public_id)
    assert isinstance(device.show(issued["token"]), Dispense)
    other = backend.issue_token(device.public_id)
    device.running.dispenser.handle_input(InputEvent("code", other["code"]))
    device.sync()
    screen = json.dumps(device.running.hardware.display.current().to_json())
    for secret in (issued["token"], other["token"], other["code"]):
        assert secret not in caplog.text
        assert secret.lower() not in caplog.text.lower()
        assert secret not in screen


def test_backend_issued_tokens_decode_from_phone_frames_at_95_percent(backend, device) -> None:
    from device.decide import QrScan, Situation, decide
    from device.qr import decode_frame

    remote = device.running.dispenser.remote.get()
    rng = np.random.default_rng(99)
    frames = 100
    dispensed = 0
    for _ in range(frames):
        token = backend.issue_token(device.public_id)["token"]
        payload = decode_frame(camera_frame(token, rng))
        if payload is None:
            continue
        situation = Situation(remote=remote, spent=set(), now=datetime.now(UTC))
        dispensed += isinstance(decide(QrScan(payload), situation), Dispense)
    assert dispensed / frames >= 0.95, f"{dispensed} of {frames} frames led to a dispense"
