"""Load shedding: requests queued too long get 503 + Retry-After before any work is done,
in the app and on the real path (gunicorn with the production settings)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.shedding import queue_started
from tests.device.backend_process import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_queue_start_is_read_in_seconds_milliseconds_or_microseconds() -> None:
    assert queue_started("t=1764590000.25") == pytest.approx(1764590000.25)
    assert queue_started("1764590000250") == pytest.approx(1764590000.25)
    assert queue_started("t=1764590000250000") == pytest.approx(1764590000.25)
    assert queue_started("t=soon") is None and queue_started(None) is None


def test_a_request_queued_too_long_is_shed_with_retry_after(
    app: Flask, client: FlaskClient
) -> None:
    stale = f"t={time.time() - 5:.3f}"
    shed = client.get("/api/v1/device/config", headers={"X-Request-Start": stale})
    assert shed.status_code == 503
    assert shed.headers["Retry-After"] == str(app.config["FAIRROLL_SHED_RETRY_AFTER_SECONDS"])
    assert shed.get_json()["error"]["code"] == "overloaded"
    fresh = client.get("/api/v1/device/config", headers={"X-Request-Start": f"t={time.time()}"})
    assert fresh.status_code == 401  # processed: no device key
    for check in ("/healthz", "/startedz", "/readyz"):  # the container's, the balancers'...
        health = client.get(check, headers={"X-Request-Start": stale})
        assert health.status_code == 200  # never shed


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[int]:
    """gunicorn with backend/gunicorn_conf.py: one worker, one thread, shed after 200 ms."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FAIRROLL_INSTANCE_PATH": str(tmp_path),
        "FAIRROLL_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "1",
        "FAIRROLL_SHED_AFTER_MS": "200",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:backend.gunicorn_conf",
        "app:app",
    ]
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - fixed command
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:  # an answer, not just a connection: the worker has booted
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_gunicorn_sheds_a_request_that_waited_behind_a_busy_thread(gunicorn: int) -> None:
    # A holds the only thread with a request that is slow to arrive; B queues behind it.
    slow = socket.create_connection(("127.0.0.1", gunicorn), timeout=10)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
    time.sleep(0.3)
    queued = socket.create_connection(("127.0.0.1", gunicorn), timeout=10)
    queued.sendall(b"GET /api/v1/device/config HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    time.sleep(0.6)
    slow.sendall(b"Connection: close\r\n\r\n")
    assert _read_status(slow) == 200
    assert _read_status(queued) == 503  # queued 0.6 s > 200 ms: shed, not processed
    fresh = socket.create_connection(("127.0.0.1", gunicorn), timeout=10)
    fresh.sendall(b"GET /api/v1/device/config HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    assert _read_status(fresh) == 401  # not queued: processed (no device key)
    for sock in (slow, queued, fresh):
        sock.close()


def test_gunicorn_replaces_a_queue_start_sent_by_the_client(gunicorn: int) -> None:
    # A client cannot claim a fresh start to skip shedding, nor an old one for anyone else:
    # its own value is replaced by the worker's stamp (no trusted proxy configured).
    sock = socket.create_connection(("127.0.0.1", gunicorn), timeout=10)
    sock.sendall(
        b"GET /api/v1/device/config HTTP/1.1\r\nHost: test\r\nX-Request-Start: t=1000\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert _read_status(sock) == 401  # processed: the client's ancient start was ignored
    sock.close()


def test_each_worker_freezes_its_startup_objects_and_switches_threads_sooner() -> None:
    """gunicorn runs the hook after the worker loaded the app (its setting of that name)."""
    import gc

    from gunicorn.app.base import Application  # type: ignore[import-untyped]

    class Loaded(Application):  # type: ignore[misc]
        def load_config(self) -> None:
            self.load_config_from_module_name_or_filename("python:backend.gunicorn_conf")

        def load(self) -> None:  # pragma: no cover - never serves
            raise AssertionError

    from backend import gunicorn_conf

    assert Loaded().cfg.post_worker_init is gunicorn_conf.post_worker_init
    before = sys.getswitchinterval()
    try:
        gunicorn_conf.post_worker_init(None)
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        sys.setswitchinterval(before)
