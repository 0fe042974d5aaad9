"""Structured JSON logs with a request id on every line of a request.

Access lines carry the method, the path without its query string (query strings may hold
presence codes), the status and the duration: never bodies, tokens, codes or addresses.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from backend.metrics import request_counter

access_log = logging.getLogger("fairroll.access")
# With FAIRROLL_ACCESS_LOG=problems, a request this slow is logged even when it succeeded.
SLOW_SECONDS = 1.0
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Attributes every LogRecord has; anything else was passed in ``extra=`` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            document["request_id"] = g.request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def _area(path: str) -> str:
    for prefix, area in (("/api/", "api"), ("/admin", "admin"), ("/d/", "visitor")):
        if path.startswith(prefix):
            return area
    return "other"


def init_app(app: Flask) -> None:
    """Request ids on every request and response; JSON logs where configured."""
    if app.config["FAIRROLL_LOG_FORMAT"] == "json" and not app.testing:
        root = logging.getLogger()
        if not any(getattr(h, "_fairroll", False) for h in root.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            handler._fairroll = True  # type: ignore[attr-defined]
            root.addHandler(handler)
            root.setLevel(logging.INFO)
    counter = request_counter(app)

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        g.request_started = time.perf_counter()

    every_request = app.config["FAIRROLL_ACCESS_LOG"] == "all"

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        counter.add(_area(request.path), response.status_code)
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        if not every_request and response.status_code < 400 and elapsed < SLOW_SECONDS:
            return response
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={"status": response.status_code, "duration_ms": round(elapsed * 1000, 1)},
        )
        return response
