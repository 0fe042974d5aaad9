"""Load shedding: a request that waited too long in the queue gets 503 + Retry-After at once.

Under overload, a request queued longer than its client waits is work for nobody: the
client has given up and retries anyway. Answering those early, without touching the
database, lets the server catch up instead of falling further behind.

The queue start comes from the ``X-Request-Start`` header (``t=<seconds>``, or
milliseconds/microseconds as nginx and others write it), set by a proxy in front or, in
production, by the gunicorn worker when it accepts a request (backend/gunicorn_conf.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from backend.http_errors import error_body

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# Health checks are never shed: a load balancer (its target groups check /startedz) or the
# container's check (/healthz) would take a busy task out, and its load would fall on the
# others, which would then shed their own checks in turn. tests/infra checks the paths.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/startedz"})


def queue_started(header: str | None) -> float | None:
    """The Unix time in a ``X-Request-Start`` value, or None if absent or unreadable."""
    if not header:
        return None
    value = header.strip().removeprefix("t=")
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 1e14:  # microseconds
        return number / 1e6
    if number > 1e11:  # milliseconds
        return number / 1e3
    return number


class LoadShedder:
    """WSGI middleware answering 503 with Retry-After to requests queued past ``max_wait``."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        max_wait: float,
        retry_after: int,
        on_shed: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.max_wait = max_wait
        self.retry_after = retry_after
        self.on_shed = on_shed
        self.clock = clock
        message = "the server is busy; retry after the time in Retry-After"
        self.body = json.dumps(error_body("overloaded", message)).encode("utf-8")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = queue_started(environ.get("HTTP_X_REQUEST_START"))
        if (
            started is not None
            and self.clock() - started > self.max_wait
            and environ.get("PATH_INFO") not in EXEMPT_PATHS
        ):
            if self.on_shed is not None:
                self.on_shed()
            start_response(
                "503 Service Unavailable",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(self.body))),
                    ("Retry-After", str(self.retry_after)),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [self.body]
        return self.app(environ, start_response)
