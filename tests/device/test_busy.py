"""The dispenser honours 503 + Retry-After: no call to the backend before the time given."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from device.api import Busy, DeviceApi, Offline
from device.state import RemoteHolder
from device.store import Store
from device.sync import Syncer


class _BusyHandler(BaseHTTPRequestHandler):
    calls = 0

    def _busy(self) -> None:
        type(self).calls += 1
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"error": {"code": "overloaded", "message": "busy"}}'
        self.send_response(503)
        self.send_header("Retry-After", "30")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _busy
    do_POST = _busy

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def busy_server() -> Iterator[str]:
    _BusyHandler.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BusyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_503_with_retry_after_is_busy_and_still_offline(busy_server: str) -> None:
    api = DeviceApi(busy_server, device_key="k" * 43)
    with pytest.raises(Busy) as caught:
        api.heartbeat(paper_level=50, status="ok")
    assert caught.value.retry_after == 30
    assert isinstance(caught.value, Offline)  # callers that know only Offline still work


def test_the_syncer_waits_out_retry_after_even_when_kicked(
    busy_server: str, tmp_path: Path
) -> None:
    clock = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    store = Store(tmp_path / "ledger.db")
    syncer = Syncer(
        DeviceApi(busy_server, device_key="k" * 43),
        store,
        RemoteHolder(store),
        lambda: (50, "ok"),
        clock=lambda: clock[0],
        retry_seconds=1.0,
    )
    pause = syncer._round()
    assert 30 <= pause <= 45 and _BusyHandler.calls == 1
    clock[0] += timedelta(seconds=10)  # an event kicks the syncer early
    assert syncer._round() == pytest.approx(pause - 10)
    assert _BusyHandler.calls == 1  # nothing was sent
    clock[0] += timedelta(seconds=pause)
    syncer._round()
    assert _BusyHandler.calls == 2  # after the pause, it tries again
    store.close()


def test_failed_rounds_wait_longer_each_time_spread_and_capped(tmp_path: Path) -> None:
    # Nothing listens on the port: each round finds the backend unreachable.
    from tests.device.backend_process import free_port

    store = Store(tmp_path / "ledger.db")
    syncer = Syncer(
        DeviceApi(f"http://127.0.0.1:{free_port()}", device_key="k" * 43),
        store,
        RemoteHolder(store),
        lambda: (50, "ok"),
        clock=lambda: datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        retry_seconds=15.0,
    )
    pauses = [syncer._round() for _ in range(8)]
    for pause, base in zip(pauses, [15, 30, 60, 60, 60, 60, 60, 60], strict=True):
        assert base * 0.5 <= pause <= base * 1.5  # doubling, capped at the heartbeat
    assert len({round(p, 6) for p in pauses}) == len(pauses)  # spread, not in step
    syncer.sync_once = lambda: None  # type: ignore[method-assign]  # the backend is back
    assert syncer._round() == 1.0
    syncer.sync_once = Syncer.sync_once.__get__(syncer)  # type: ignore[method-assign]
    assert 7.5 <= syncer._round() <= 22.5  # a new outage starts from the shortest wait
    store.close()
