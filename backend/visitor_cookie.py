"""The anonymous visitor cookie: a random id, signed, HttpOnly, SameSite=Lax.

It carries no name, phone number or account. The database never stores it: only an
HMAC of it under a secret of the day (backend.services.quotas).
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE_NAME = "fr_visitor"
COOKIE_MAX_AGE = 24 * 3600


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="fairroll-visitor")


def read_visitor_id() -> str | None:
    """The visitor id from a validly signed cookie, or None."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) and len(value) == 32 else None


def visitor_id_for_request() -> tuple[str, bool]:
    """The request's visitor id and whether it is new (so the cookie must be set)."""
    existing = read_visitor_id()
    if existing:
        return existing, False
    return secrets.token_hex(16), True


def set_visitor_cookie(response: Response, visitor_id: str) -> None:
    """Attach the signed visitor cookie to ``response``."""
    response.set_cookie(
        COOKIE_NAME,
        _serializer().dumps(visitor_id),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["FAIRROLL_COOKIE_SECURE"]),
    )
