"""The kiosk page server under one corpus of hostile input: never a 5xx, never a dropped
connection, always a message. Driven over real sockets (http.client)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

from device.kiosk.server import MAX_BODY, STATIC_FILES
from tests.device.test_kiosk import Kiosk, kiosk  # noqa: F401  (the fixture)

GET_PATHS = [*STATIC_FILES, "/api/state", "/presence.svg", "/nowhere", "/%00", "/%FF%FE"]
POST_PATHS = ["/api/input", "/api/sim/hold", "/api/sim/play", "/api/sim/visitor", "/nowhere"]
QUERIES = ["?since=99999999999999999999", "?since=-5", "?since=%00", "?since=abc", "?x=%FF"]
FIELDS = ["kind", "value", "payload", "frames", "fps"]
VALUES: list[object] = [
    "a\x00b",
    "\ud800",
    10**30,
    -(2**63),
    [],
    {"x": None},
    True,
    None,
    "9" * 5000,
]


def bodies() -> Iterator[tuple[str, bytes, str]]:
    """(name, body, content type) for every POST."""
    yield "deep list", b"[" * 100_000 + b"]" * 100_000, "application/json"
    yield "deep object", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"
    for number, value in enumerate(VALUES):
        yield (
            f"value #{number}",
            json.dumps(dict.fromkeys(FIELDS, value)).encode(),
            "application/json",
        )
    yield "unknown fields", b'{"unknown": 1}', "application/json"
    yield "a list", b"[1, 2]", "application/json"
    yield "invalid UTF-8", b'{"kind": "\xff\xfe"}', "application/json"
    yield "not JSON", b"\x00\x01", "application/json"
    yield "form", b"kind=code&value=%00", "application/x-www-form-urlencoded"
    yield "not an image", b"\x89PNG\r\n\x1a\nbroken", "image/png"
    frames = {"frames": ["not base64!", "aGVsbG8="], "fps": 30}
    yield "bad frames", json.dumps(frames).encode(), "application/json"


def _ask(
    url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def _problem(status: int, raw: bytes) -> str | None:
    if status >= 500:
        return f"server error {status}"
    if status >= 400:
        try:
            message = json.loads(raw)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return "an error without a JSON message"
        return None if message else "an empty message"
    return None


def test_no_hostile_input_breaks_the_kiosk_server(kiosk: Kiosk) -> None:  # noqa: F811
    url = kiosk.server.url
    failures = []
    sent = 0
    for path in GET_PATHS:
        for query in ["", *QUERIES] if path == "/api/state" else [""]:
            status, raw = _ask(url, "GET", path + query, None, {})
            sent += 1
            if problem := _problem(status, raw):
                failures.append(f"GET {path}{query}: {problem}")
    for path in POST_PATHS:
        for name, body, content_type in bodies():
            status, raw = _ask(url, "POST", path, body, {"Content-Type": content_type})
            sent += 1
            if problem := _problem(status, raw):
                failures.append(f"POST {path} [{name}]: {problem}")
    assert sent > 80
    assert not failures, "\n".join(failures)


def test_the_kiosk_refuses_a_body_over_its_limit_with_413(kiosk: Kiosk) -> None:  # noqa: F811
    headers = {"Content-Type": "application/json", "Content-Length": str(10 * 1024 * 1024)}
    status, raw = _ask(kiosk.server.url, "POST", "/api/input", b"{}", headers)
    assert status == 413
    assert str(MAX_BODY) in json.loads(raw)["error"]["message"]


def test_deep_json_at_the_kiosk_is_a_clear_400(kiosk: Kiosk) -> None:  # noqa: F811
    body = b"[" * 100_000 + b"]" * 100_000
    status, raw = _ask(
        kiosk.server.url, "POST", "/api/input", body, {"Content-Type": "application/json"}
    )
    assert status == 400
    assert "nested too deeply" in json.loads(raw)["error"]["message"]
