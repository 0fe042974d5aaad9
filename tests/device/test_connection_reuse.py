"""The dispenser keeps one connection open for its calls instead of one per request."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from device.api import DeviceApi, Offline


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load balancer answers
    connections = 0
    requests: list[str] = []  # noqa: RUF012 - one test server at a time, reset per test
    close_after: int | None = None  # close the connection after this many answers
    drop = False  # read each request, then close without answering

    def setup(self) -> None:
        super().setup()
        # Answer headers and body go out in two writes: without this, Nagle's algorithm
        # and the client's delayed ACK add 40 ms to every answer on loopback.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        type(self).connections += 1
        self.answered = 0

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).requests.append(f"{self.command} {self.path}")
        if self.drop:
            self.close_connection = True
            return
        body = json.dumps({"ok": True, "config": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.answered += 1
        if self.close_after is not None and self.answered >= self.close_after:
            # Like an idle timeout: the server closes without saying so in the answer.
            self.close_connection = True

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.connections, _Handler.requests, _Handler.close_after = 0, [], None
    _Handler.drop = False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_sixty_calls_use_one_connection(server: str) -> None:
    api = DeviceApi(server, device_key="k" * 43)
    for _ in range(20):
        api.heartbeat(paper_level=50, status="ok")
        api.get_config(None)
        api.post_events([])
    api.close()
    assert len(_Handler.requests) == 60
    assert _Handler.connections == 1


def test_each_thread_has_its_own_connection(server: str) -> None:
    api = DeviceApi(server, device_key="k" * 43)
    api.heartbeat(paper_level=50, status="ok")

    def typed_code() -> None:
        api.verify_code("123456")
        api.close()

    other = threading.Thread(target=typed_code)
    other.start()
    other.join()
    api.heartbeat(paper_level=50, status="ok")
    api.close()
    assert _Handler.connections == 2
    assert len(_Handler.requests) == 3


def test_a_connection_closed_by_the_server_is_reopened_for_a_heartbeat(server: str) -> None:
    _Handler.close_after = 1
    api = DeviceApi(server, device_key="k" * 43)
    for _ in range(3):
        api.heartbeat(paper_level=50, status="ok")
    api.close()
    assert _Handler.requests == ["POST /api/v1/device/heartbeat"] * 3
    assert _Handler.connections == 3


def test_a_typed_code_after_an_idle_close_goes_on_a_new_connection(server: str) -> None:
    api = DeviceApi(server, device_key="k" * 43)
    _Handler.close_after = 1  # the server closes each connection after one answer
    api.heartbeat(paper_level=50, status="ok")
    time.sleep(0.2)  # the close reaches the client while its connection is idle
    api.verify_code("123456")  # seen closed before use: sent once, on a new connection
    api.close()
    assert _Handler.requests[-1] == "POST /api/v1/device/codes/verify"
    assert _Handler.connections == 2


def test_a_typed_code_is_never_sent_twice_when_the_connection_drops(server: str) -> None:
    api = DeviceApi(server, device_key="k" * 43)
    api.heartbeat(paper_level=50, status="ok")
    # From now on the server reads each request and drops the connection unanswered: the
    # client cannot know whether the request was handled, so a typed code is not resent.
    _Handler.drop = True
    with pytest.raises(Offline):
        api.verify_code("123456")
    assert _Handler.requests[1:] == ["POST /api/v1/device/codes/verify"]
    api.close()


def test_a_heartbeat_is_resent_once_when_a_reused_connection_drops(server: str) -> None:
    api = DeviceApi(server, device_key="k" * 43)
    api.heartbeat(paper_level=50, status="ok")
    _Handler.drop = True
    with pytest.raises(Offline):
        api.heartbeat(paper_level=50, status="ok")
    assert _Handler.requests[1:] == ["POST /api/v1/device/heartbeat"] * 2
    api.close()
