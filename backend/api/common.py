"""Request parsing and service wiring shared by the API handlers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, request

from backend.errors import InvalidInput
from backend.extensions import db
from backend.models import Dispenser
from backend.services.tokens import IssuedToken, TokenSettings, issue_token
from backend.signing import key_ring


def utcnow() -> datetime:
    """The request's time: read once, here, and passed into services."""
    return datetime.now(UTC)


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


def token_settings() -> TokenSettings:
    """Token life, typed-code length and clock tolerance from the app config."""
    config = current_app.config
    return TokenSettings(
        ttl=timedelta(seconds=config["FAIRROLL_TOKEN_TTL_SECONDS"]),
        code_digits=config["FAIRROLL_CODE_DIGITS"],
        clock_skew=timedelta(seconds=config["FAIRROLL_CLOCK_SKEW_SECONDS"]),
        live_cap=config["FAIRROLL_LIVE_TOKEN_CAP"],
    )


def code_key() -> bytes:
    """The key for typed-code hashes, derived from the app secret."""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hashlib.sha256(b"fairroll typed codes\x00" + secret).digest()


def public_base_url() -> str:
    """Where visitors reach this backend: configured, else the request's own origin."""
    configured: str = current_app.config["FAIRROLL_PUBLIC_URL"]
    return configured or request.host_url.rstrip("/")


def issue_visitor_token(
    dispenser: Dispenser, *, visitor_id: str, presence: str | None, now: datetime
) -> IssuedToken:
    """Issue a token with the app's keys and settings (the JSON API and the phone page)."""
    return issue_token(
        db.session,
        dispenser,
        visitor_id=visitor_id,
        presence_code=presence,
        ring=key_ring(current_app),
        code_key=code_key(),
        settings=token_settings(),
        now=now,
    )
