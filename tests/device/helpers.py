"""Helpers for the device tests: keys, configs and tokens made in the test."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.remote import RemoteConfig, parse_remote_config
from protocol.ids import dispenser_id_to_bytes, new_dispenser_public_id
from protocol.token import TokenClaims, encode_token_key, key_id_for, sign_token


def config_doc(
    dispenser_id: str,
    keys: list[Ed25519PrivateKey],
    **policy: Any,
) -> dict[str, Any]:
    """A backend config document as docs/device-api.md describes it."""
    presence = policy.pop("presence", None)
    enabled = policy.pop("enabled", True)
    base_policy = {
        "portion_cm": 60,
        "window_seconds": 540,
        "daily_cap": 8,
        "min_interval_seconds": 0,
        "presence_required": presence is not None,
        "face_mode_allowed": False,
        "unrestricted": False,
    }
    base_policy.update(policy)
    return {
        "dispenser_id": dispenser_id,
        "enabled": enabled,
        "site": {"name": "Test Park", "timezone": "Asia/Shanghai"},
        "policy": base_policy,
        "token_keys": [encode_token_key(k, dispenser_id_to_bytes(dispenser_id)) for k in keys],
        "presence": presence,
        "visitor_url": f"http://127.0.0.1:5000/d/{dispenser_id}",
        "heartbeat_seconds": 60,
        "config_refresh_seconds": 300,
    }


def remote_config(dispenser_id: str, keys: list[Ed25519PrivateKey], **policy: Any) -> RemoteConfig:
    """A parsed backend config."""
    return parse_remote_config(config_doc(dispenser_id, keys, **policy))


def make_token(
    key: Ed25519PrivateKey,
    dispenser_id: str,
    now: datetime,
    *,
    life: timedelta = timedelta(seconds=120),
    issued_at: datetime | None = None,
) -> str:
    """A token signed in the test, bound to ``dispenser_id``."""
    issued = issued_at or now
    claims = TokenClaims(
        key_id=key_id_for(key.public_key()),
        token_id=secrets.token_bytes(12),
        dispenser_id=dispenser_id_to_bytes(dispenser_id),
        issued_at=issued,
        expires_at=issued + life,
    )
    return sign_token(claims, key)


def new_dispenser() -> str:
    """A fresh dispenser public id."""
    return new_dispenser_public_id()


def http(
    url: str, body: bytes | None = None, content_type: str = "application/json", **headers: str
) -> tuple[int, bytes]:
    """GET (or POST ``body``) a local URL; return status and body, errors included."""
    import urllib.error
    import urllib.request

    method = "POST" if body is not None else "GET"
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - test URLs
    if body is not None:
        request.add_header("Content-Type", content_type)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - test URLs
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()
