"""Request parsing shared by the API handlers."""

from __future__ import annotations

from typing import Any

from flask import request

from backend.errors import InvalidInput


def json_body(*, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, or InvalidInput with a clear message."""
    if not request.get_data(cache=True):
        if optional:
            return {}
        raise InvalidInput("send a JSON object body")
    if not request.is_json:
        raise InvalidInput("send the body as application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body
