"""The app's keys and settings, handed to the services by every web layer and the CLI.

The JSON API, the visitor's pages, the admin UI and the metrics all call services with
the same settings objects; they are built here, from the app config, in one place that
belongs to none of those layers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache

from flask import Flask, current_app, request

from backend.extensions import db
from backend.models import Dispenser
from backend.services.alerts import AlertSettings
from backend.services.tokens import IssuedToken, TokenSettings, issue_token
from backend.signing import key_ring


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
    return _code_key(str(current_app.config["SECRET_KEY"]))


@lru_cache(maxsize=4)
def _code_key(secret: str) -> bytes:
    return hashlib.sha256(b"fairroll typed codes\x00" + secret.encode("utf-8")).digest()


def public_base_url() -> str:
    """Where visitors reach this backend: configured, else the request's own origin."""
    configured: str = current_app.config["FAIRROLL_PUBLIC_URL"]
    return configured or request.host_url.rstrip("/")


def device_base_url() -> str:
    """The server address dispensers are enrolled with: configured, else the public one."""
    configured: str = current_app.config["FAIRROLL_DEVICE_URL"]
    return configured or public_base_url()


def issue_visitor_token(
    dispenser: Dispenser,
    *,
    visitor_id: str,
    presence: str | None,
    now: datetime,
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


def alert_settings(app: Flask) -> AlertSettings:
    """Alert thresholds from the configuration."""
    config = app.config
    offline = config["FAIRROLL_OFFLINE_AFTER_SECONDS"] or 3 * config["FAIRROLL_HEARTBEAT_SECONDS"]
    return AlertSettings(
        low_paper_percent=config["FAIRROLL_LOW_PAPER_PERCENT"],
        offline_after=timedelta(seconds=offline),
    )
