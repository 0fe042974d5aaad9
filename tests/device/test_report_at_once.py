"""A redemption is reported to the real backend at once, ahead of the outbox's backlog,
with the same event id the batch upload uses (so it is stored once)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from device.app import Running, build
from device.config import CameraConfig, DeviceConfig, ScreenConfig
from device.decide import Dispense
from device.state import enroll
from device.synthetic import camera_frame
from tests.device.backend_process import BackendProcess
from tests.device.recording_proxy import RecordingProxy


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    server = BackendProcess(tmp_path_factory.mktemp("backend"))
    server.start()
    yield server
    server.stop()


def _device(backend: BackendProcess, url: str, state: Path) -> tuple[Running, str]:
    created = backend.create_dispenser("Report Park")
    config = DeviceConfig(
        state_dir=str(state), camera=CameraConfig(type="none"), screen=ScreenConfig(type="console")
    )
    enroll(config.state_path, url, created["enrollment_code"])
    return build(config), created["public_id"]


def _event_posts(proxy: RecordingProxy) -> list[list[dict[str, object]]]:
    return [
        json.loads(r.body)["events"]
        for r in proxy.requests()
        if r.method == "POST" and r.path.endswith("/device/events")
    ]


def test_the_redemption_goes_alone_and_first_then_the_backlog_without_it(
    backend: BackendProcess, tmp_path: Path
) -> None:
    with RecordingProxy(backend.port) as proxy:
        running, public_id = _device(backend, proxy.url, tmp_path / "state")
        try:
            now = datetime.now(UTC)
            # A backlog: events the outbox has not sent yet.
            backlog = [running.store.record_dispense(method="face", now=now) for _ in range(3)]
            token = backend.issue_token(public_id)["token"]
            frame = camera_frame(token, np.random.default_rng(5))
            decision = running.dispenser.handle_frame(frame)
            assert isinstance(decision, Dispense) and decision.token_ref
            assert running.syncer is not None
            running.syncer.sync_once()
        finally:
            running.stop()
    posts = _event_posts(proxy)
    assert len(posts) == 2
    first, batch = posts
    assert [(e["method"], e.get("token_ref")) for e in first] == [("qr", decision.token_ref)]
    assert sorted(str(e["event_id"]) for e in batch) == sorted(backlog)
    rows = backend.query(
        "SELECT e.method, count(*) FROM device_event e JOIN dispenser d ON d.id = e.dispenser_id "
        "WHERE d.public_id = ? GROUP BY e.method ORDER BY e.method",
        public_id,
    )
    assert rows == [("face", 3), ("qr", 1)]
    redeemed = backend.query(
        "SELECT method FROM access_token WHERE token_ref = ? AND redeemed_at IS NOT NULL",
        decision.token_ref,
    )
    assert redeemed == [("qr",)]


def test_sent_at_once_and_again_in_a_batch_it_is_stored_once(
    backend: BackendProcess, tmp_path: Path
) -> None:
    running, public_id = _device(backend, backend.url, tmp_path / "state")
    try:
        token = backend.issue_token(public_id)["token"]
        decision = running.dispenser.handle_frame(camera_frame(token, np.random.default_rng(6)))
        assert isinstance(decision, Dispense)
        syncer = running.syncer
        assert syncer is not None
        [event] = running.store.pending_events(10)
        # The urgent send reached the backend, but the device crashed before marking it.
        syncer.upload_urgent()
        with closing(sqlite3.connect(running.store.path)) as db, db:
            db.execute("UPDATE outbox SET uploaded_at = NULL")
        assert syncer.upload_pending() == 1  # sent again with the batch, same event id
    finally:
        running.stop()
    rows = backend.query("SELECT count(*) FROM device_event WHERE event_id = ?", event.event_id)
    assert rows == [(1,)]
