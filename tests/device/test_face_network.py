"""Privacy at the network level: what a dispenser in face mode puts on the wire.

The real dispenser (loop, face checker, sync) talks to the real backend (its own
process) through a TCP relay that keeps every byte the device sends. Every request is
then checked against an allowlist of endpoints, headers and body fields: face events
may hold event_id, kind, method and occurred_at and nothing else; heartbeats only
paper_level, status and software_version.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from device.face.checker import DispenserFaceChecker
from device.state import enroll
from protocol.clock import utcnow
from tests.device.backend_process import BackendProcess
from tests.device.face_device import face_config, scene_body, start_face_kiosk
from tests.device.recording_proxy import RecordingProxy, SentRequest, parse_requests

PREFIX = "/api/v1/device/"
ENDPOINTS = {
    ("POST", PREFIX + "enroll"): {"enrollment_code", "software_version"},
    ("GET", PREFIX + "config"): None,  # no body
    ("POST", PREFIX + "heartbeat"): {"paper_level", "status", "software_version"},
    ("POST", PREFIX + "events"): {"events"},
}
HEADERS = {
    "host", "accept", "accept-encoding", "content-type", "content-length",
    "authorization", "user-agent", "connection", "if-none-match",
}  # fmt: skip
FACE_EVENT_FIELDS = {"event_id", "kind", "method", "occurred_at"}
EVENT_ID = re.compile(r"[0-9a-f]{32}")
WORD = re.compile(r"[a-z_]{1,32}")
VERSION = re.compile(r"[0-9A-Za-z.+-]{1,32}")


def problems_in(requests: list[SentRequest]) -> list[str]:
    """Everything in ``requests`` outside the allowlist (empty when all is allowed)."""
    problems = []
    for request in requests:
        where = f"{request.method} {request.path}"
        allowed = ENDPOINTS.get((request.method, request.path), "unknown")
        if allowed == "unknown":
            problems.append(f"{where}: not an allowed endpoint")
            continue
        problems += [f"{where}: header {n}" for n, _ in request.headers if n.lower() not in HEADERS]
        if allowed is None:
            if request.body:
                problems.append(f"{where}: a body where none is allowed")
            continue
        try:
            body = json.loads(request.body)
        except ValueError:
            problems.append(f"{where}: the body is not JSON")
            continue
        if not isinstance(body, dict) or set(body) != allowed:
            problems.append(f"{where}: fields {sorted(body) if isinstance(body, dict) else body}")
            continue
        if request.path.endswith("heartbeat"):
            problems += _heartbeat_problems(body, where)
        elif request.path.endswith("events"):
            for event in body["events"]:
                problems += _face_event_problems(event, where)
        elif not VERSION.fullmatch(str(body["software_version"])):
            problems.append(f"{where}: software_version {body['software_version']!r}")
    return problems


def _heartbeat_problems(body: dict[str, Any], where: str) -> list[str]:
    level, status = body["paper_level"], body["status"]
    problems = []
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 100:
        problems.append(f"{where}: paper_level {level!r}")
    if not isinstance(status, str) or not WORD.fullmatch(status):
        problems.append(f"{where}: status {status!r}")
    if not isinstance(body["software_version"], str) or not VERSION.fullmatch(
        body["software_version"]
    ):
        problems.append(f"{where}: software_version {body['software_version']!r}")
    return problems


def _face_event_problems(event: Any, where: str) -> list[str]:
    if not isinstance(event, dict) or set(event) != FACE_EVENT_FIELDS:
        return [f"{where}: event fields {sorted(event) if isinstance(event, dict) else event}"]
    problems = []
    if event["method"] != "face":
        problems.append(f"{where}: method {event['method']!r} in a face-only flow")
    if event["kind"] not in ("dispense", "refuse"):
        problems.append(f"{where}: kind {event['kind']!r}")
    if not isinstance(event["event_id"], str) or not EVENT_ID.fullmatch(event["event_id"]):
        problems.append(f"{where}: event_id {event['event_id']!r}")
    try:
        when = datetime.fromisoformat(str(event["occurred_at"]))
        if when.tzinfo is None or len(str(event["occurred_at"])) > 32:
            raise ValueError
    except ValueError:
        problems.append(f"{where}: occurred_at {event['occurred_at']!r}")
    return problems


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    server = BackendProcess(tmp_path_factory.mktemp("backend"))
    server.start()
    yield server
    server.stop()


def set_face_mode(backend: BackendProcess, site: str, allowed: bool) -> None:
    """Switch face mode for a site in the backend's database (no operator command has it)."""
    with closing(sqlite3.connect(backend.instance / "fairroll.db")) as conn:
        conn.execute("UPDATE site SET face_mode_allowed = ? WHERE name = ?", (allowed, site))
        conn.commit()


def test_everything_the_device_sends_in_face_mode_is_on_the_allowlist(
    backend: BackendProcess, tmp_path: Path
) -> None:
    created = backend.create_dispenser("Face Park")
    set_face_mode(backend, "Face Park", True)
    scenes = [scene_body("group_1"), scene_body("group_1", seed=3), scene_body("group_2")]
    with RecordingProxy(backend.port) as proxy:
        config = face_config(tmp_path)
        config = replace(config, sync=replace(config.sync, retry_seconds=0.5))
        enroll(config.state_path, proxy.url, created["enrollment_code"])
        kiosk = start_face_kiosk(config, utcnow)
        try:
            outcomes = [kiosk.visit(scene)["outcome"] for scene in scenes]
            assert outcomes == ["dispense", "refuse", "dispense"]
            face = kiosk.running.dispenser.face
            assert isinstance(face, DispenserFaceChecker) and face.held == 2
            syncer = kiosk.running.syncer
            assert syncer is not None
            syncer.sync_once()
            # The site turns face mode off: the next config refresh erases every held face.
            set_face_mode(backend, "Face Park", False)
            assert syncer.refresh_config()
            deadline = time.monotonic() + 5
            while face.held != 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert face.held == 0
            assert "use_face" not in kiosk.wait_for(lambda view: view["mode"] == "idle")["buttons"]
            syncer.heartbeat()
        finally:
            kiosk.stop()
        sent = proxy.requests()
    arrived = backend.query(
        "SELECT e.kind, e.method, e.reason, e.token_ref FROM device_event e "
        "JOIN dispenser d ON d.id = e.dispenser_id WHERE d.public_id = ? ORDER BY e.id",
        created["public_id"],
    )
    assert sorted(arrived) == sorted(
        [("dispense", "face", None, None)] * 2 + [("refuse", "face", None, None)]
    )
    paths = {request.path for request in sent}
    assert {PREFIX + name for name in ("enroll", "config", "heartbeat", "events")} <= paths
    assert problems_in(sent) == []


def _sent(method: str, path: str, body: dict[str, Any]) -> bytes:
    raw = json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\nAuthorization: Bearer k\r\n\r\n"
    )
    return head.encode() + raw


def test_the_allowlist_catches_face_data_added_to_what_is_sent() -> None:
    event = {
        "event_id": "a" * 32,
        "kind": "dispense",
        "method": "face",
        "occurred_at": datetime(2026, 11, 22, 6, 0, tzinfo=UTC).isoformat(),
    }
    heartbeat = {"paper_level": 80, "status": "ok", "software_version": "0.1.0"}
    fine = _sent("POST", PREFIX + "events", {"events": [event]})
    fine += _sent("POST", PREFIX + "heartbeat", heartbeat)
    assert problems_in(parse_requests(fine)) == []
    leaks = [
        {"events": [{**event, "embedding": [0.01] * 128}]},
        {"events": [{**event, "image": "iVBORw0KGgo="}]},
        {"events": [{**event, "reason": "window"}]},
        {"events": [{**event, "occurred_at": "2026-11-22T06:00:00+00:00 " + "0.1 " * 128}]},
        {"events": [{**event, "kind": "AAAA" * 40}]},
        {"events": [event], "face": "x"},
    ]
    for body in leaks:
        assert problems_in(parse_requests(_sent("POST", PREFIX + "events", body))), body
    assert problems_in(parse_requests(_sent("POST", PREFIX + "heartbeat", {**heartbeat, "f": 1})))
    assert problems_in(
        parse_requests(_sent("POST", PREFIX + "heartbeat", {**heartbeat, "status": "0.1," * 64}))
    )
    assert problems_in(parse_requests(_sent("POST", PREFIX + "faces", {"x": 1})))
    extra_header = fine.replace(b"Host:", b"X-Face: 0.1,0.2\r\nHost:", 1)
    assert problems_in(parse_requests(extra_header))
