"""A TCP relay on 127.0.0.1 that keeps every byte a client sends to a server.

Put between the dispenser and its backend, it records what the device puts on the
network, byte for byte (not what a library says it sent); ``requests`` parses those
bytes back into HTTP requests so a test can check each one.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SentRequest:
    """One HTTP request exactly as it crossed the wire."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class _Relay(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        upstream = socket.create_connection(self.server.target, timeout=30)
        sent = bytearray()
        back = threading.Thread(target=_pipe, args=(upstream, self.request, None), daemon=True)
        back.start()
        _pipe(self.request, upstream, sent)
        back.join(timeout=30)
        upstream.close()
        with self.server.lock:
            self.server.connections.append(bytes(sent))


def _pipe(source: socket.socket, sink: socket.socket, keep: bytearray | None) -> None:
    """Copy until the source closes its side; keep a copy of the bytes if asked."""
    try:
        while chunk := source.recv(65536):
            if keep is not None:
                keep.extend(chunk)
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.target = target
        self.lock = threading.Lock()
        self.connections: list[bytes] = []


class RecordingProxy:
    """Relays 127.0.0.1:<port> to ``target_port``; ``requests()`` is what clients sent."""

    def __init__(self, target_port: int) -> None:
        self._server = _Server(("127.0.0.1", target_port))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def raw(self) -> list[bytes]:
        """Every connection's client bytes, in the order the connections ended."""
        with self._server.lock:
            return list(self._server.connections)

    def requests(self) -> list[SentRequest]:
        """Every request sent so far, parsed from the raw bytes."""
        return [request for data in self.raw() for request in parse_requests(data)]


def parse_requests(data: bytes) -> list[SentRequest]:
    """The HTTP/1.1 requests in one connection's bytes; ValueError if they are not only that."""
    found = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError(f"bytes that are not an HTTP request: {data[:80]!r}")
        request_line, *lines = head.decode("ascii").split("\r\n")
        method, path, version = request_line.split(" ")
        if version != "HTTP/1.1":
            raise ValueError(f"unexpected protocol {version}")
        headers = [
            (name.strip(), value.strip()) for name, value in (h.split(":", 1) for h in lines)
        ]
        names = {name.lower(): value for name, value in headers}
        if "transfer-encoding" in names:
            raise ValueError("chunked bodies are not expected from the device")
        length = int(names.get("content-length", "0"))
        found.append(SentRequest(method, path, headers, rest[:length]))
        data = rest[length:]
    return found
