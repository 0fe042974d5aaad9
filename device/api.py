"""The device API client (docs/device-api.md), on the standard library's http.client.

Each thread keeps one HTTP/1.1 connection open and reuses it: a new TLS connection per
request would send the server's certificate chain (~4.5 KB) with every heartbeat, more
than the request itself, and the backend's operator pays for every byte and every new
connection at the load balancer (docs/operations.md, "Costs"). When a proxy is set in
the environment (HTTPS_PROXY and friends), requests go through urllib as before.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from device import __version__

API_PREFIX = "/api/v1"


class Offline(Exception):
    """The backend could not be reached or answered with a server error: try later."""


class Busy(Offline):
    """The backend is overloaded and asked to come back after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ApiError(Exception):
    """The backend refused the request; ``code`` is its stable error word."""

    def __init__(self, status: int, code: str, message: str, retry_after: int = 0) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Enrollment:
    """What enrolling returned."""

    dispenser_id: str
    device_key: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Response:
    """A decoded answer."""

    status: int
    body: Any
    headers: dict[str, str]


class DeviceApi:
    """Calls the backend's device endpoints with the device key."""

    def __init__(self, server: str, device_key: str | None = None, timeout: float = 5.0) -> None:
        if not server.startswith(("http://", "https://")):
            raise ValueError("the server URL must start with http:// or https://")
        self.base = server.rstrip("/") + API_PREFIX
        self.device_key = device_key
        self.timeout = timeout
        self._url = urllib.parse.urlsplit(self.base)
        self._local = threading.local()  # this thread's open connection, if any
        self._proxied = self._url.scheme in urllib.request.getproxies()

    def close(self) -> None:
        """Close the calling thread's open connection (the next call opens a new one)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        retry_if_stale: bool = True,
    ) -> Response:
        """Send one request; ``retry_if_stale`` may resend it once if a reused connection
        turns out closed by the server (only for requests that are safe to repeat)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        sent = {"Accept": "application/json"}
        if data is not None:
            sent["Content-Type"] = "application/json"
        if self.device_key:
            sent["Authorization"] = f"Bearer {self.device_key}"
        sent.update(headers or {})
        if self._proxied:
            return self._call_urllib(method, path, data, sent)
        try:
            status, raw, answer_headers = self._exchange(method, path, data, sent, retry_if_stale)
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise Offline(str(error) or type(error).__name__) from error
        return _decode(status, raw, answer_headers)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it was used before (may be stale)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and not _closed_by_server(connection):
            return connection, True
        self.close()
        host, port = self._url.hostname or "", self._url.port
        if self._url.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        self._local.connection = connection
        return connection, False

    def _exchange(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str], retry: bool
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request and its whole answer on this thread's (possibly reused) connection."""
        connection, reused = self._connection()
        try:
            connection.request(method, self._url.path + path, body=data, headers=headers)
            answer = connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the idle connection before it read this request.
            self.close()
            if not (reused and retry):
                raise
            connection, _ = self._connection()
            connection.request(method, self._url.path + path, body=data, headers=headers)
            answer = connection.getresponse()
        raw = answer.read()
        if answer.will_close:
            self.close()
        return answer.status, raw, dict(answer.headers)

    def _call_urllib(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> Response:
        """The same request through urllib, which honours the environment's proxy."""
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - http(s) checked in __init__
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return _response(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return Response(304, None, dict(error.headers))
            retry = _retry_after(dict(error.headers))
            if error.code >= 500:
                error.close()  # the answer's body is not needed: free its connection
            if error.code == 503 and retry:
                raise Busy(f"server busy, retry after {retry} s", retry) from error
            if error.code >= 500:
                raise Offline(f"server error {error.code}") from error
            raw = error.read()
            raise _api_error(error.code, raw, dict(error.headers)) from error
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            raise Offline(str(getattr(error, "reason", error))) from error

    def enroll(self, code: str) -> Enrollment:
        """Exchange a one-time enrollment code for an id, a device key and a config."""
        answer = self._call(
            "POST",
            "/device/enroll",
            {"enrollment_code": code, "software_version": __version__},
            retry_if_stale=False,  # a one-time code: never sent twice
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        try:
            return Enrollment(
                dispenser_id=str(body["dispenser_id"]),
                device_key=str(body["device_key"]),
                config=dict(body["config"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(answer.status, "bad_answer", "enrollment answer is incomplete") from exc

    def get_config(self, etag: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """The config document and its ETag, or (None, etag) when unchanged."""
        headers = {"If-None-Match": etag} if etag else {}
        answer = self._call("GET", "/device/config", headers=headers)
        new_etag = answer.headers.get("ETag") or answer.headers.get("Etag") or etag
        if answer.status == 304:
            return None, new_etag
        if not isinstance(answer.body, dict):
            raise ApiError(answer.status, "bad_answer", "config is not a JSON object")
        return answer.body, new_etag

    def heartbeat(self, *, paper_level: int, status: str) -> dict[str, Any]:
        """Report paper level and status; returns the server's answer."""
        answer = self._call(
            "POST",
            "/device/heartbeat",
            {"paper_level": paper_level, "status": status, "software_version": __version__},
        )
        return answer.body if isinstance(answer.body, dict) else {}

    def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Upload a batch of outbox events."""
        answer = self._call("POST", "/device/events", {"events": events})
        return answer.body if isinstance(answer.body, dict) else {}

    def verify_code(self, code: str) -> dict[str, Any]:
        """Ask the backend about a typed code (raises ApiError 422/429 when refused)."""
        # Never resent: a second delivery could be refused as a code already used.
        answer = self._call("POST", "/device/codes/verify", {"code": code}, retry_if_stale=False)
        return answer.body if isinstance(answer.body, dict) else {}


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server (its idle timeout).

    Nothing is due on an idle connection, so a readable socket means end of stream (or
    an error): reusing it would lose the next request.
    """
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _decode(status: int, raw: bytes, headers: dict[str, str]) -> Response:
    """An answer as a Response, or the exception its status stands for."""
    if status < 300:
        return _response(status, raw, headers)
    if status == 304:
        return Response(304, None, headers)
    retry = _retry_after(headers)
    if status == 503 and retry:
        raise Busy(f"server busy, retry after {retry} s", retry)
    if status >= 500:
        raise Offline(f"server error {status}")
    raise _api_error(status, raw, headers)


def _response(status: int, raw: bytes, headers: dict[str, str]) -> Response:
    body: Any = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    return Response(status, body, headers)


def _retry_after(headers: dict[str, str]) -> int:
    """Seconds from a Retry-After header given in seconds (0 when absent or a date)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    return min(int(value), 3600) if value.isdigit() else 0


def _api_error(status: int, raw: bytes, headers: dict[str, str]) -> ApiError:
    code, message = "http_error", f"HTTP {status}"
    try:
        error = json.loads(raw)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass
    retry = headers.get("Retry-After", "0")
    return ApiError(status, code, message, int(retry) if retry.isdigit() else 0)


def parse_time(text: object) -> datetime | None:
    """Parse an ISO 8601 time from the backend, or None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def request_visitor_token(
    server: str, dispenser_id: str, *, timeout: float = 5.0
) -> dict[str, Any]:
    """Ask for a token as a visitor's phone would (used only by the simulated dispenser)."""
    api = DeviceApi(server, timeout=timeout)
    answer = api._call("POST", f"/dispensers/{dispenser_id}/tokens", {})
    if not isinstance(answer.body, dict) or "token" not in answer.body:
        raise ApiError(answer.status, "bad_answer", "no token in the answer")
    return answer.body
