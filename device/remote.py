"""The configuration document the backend hands the dispenser (see docs/device-api.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyotp

from protocol.ids import InvalidDispenserId, dispenser_id_to_bytes
from protocol.token import decode_public_keys


class RemoteConfigError(ValueError):
    """The backend sent a configuration this device cannot use."""


@dataclass(frozen=True)
class Policy:
    """The site's rationing policy as it applies to this dispenser."""

    portion_cm: int = 60
    window_seconds: int = 540
    daily_cap: int = 0
    min_interval_seconds: int = 0
    presence_required: bool = False
    face_mode_allowed: bool = False
    unrestricted: bool = False


@dataclass(frozen=True)
class Presence:
    """The rotating presence code's parameters (TOTP, RFC 6238)."""

    secret: str
    interval_seconds: int = 30
    digits: int = 6


@dataclass(frozen=True)
class RemoteConfig:
    """The parsed backend configuration."""

    dispenser_id: str
    dispenser_id_bytes: bytes
    enabled: bool
    site_name: str
    policy: Policy
    token_keys: dict[bytes, bytes]  # key id -> this dispenser's token MAC key
    presence: Presence | None
    visitor_url: str
    heartbeat_seconds: int
    config_refresh_seconds: int


def _int(table: dict[str, Any], key: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RemoteConfigError(f"config field {key} must be a non-negative integer")
    return value


def _bool(table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise RemoteConfigError(f"config field {key} must be true or false")
    return value


def _parse_policy(raw: Any) -> Policy:
    if not isinstance(raw, dict):
        raise RemoteConfigError("config field policy must be an object")
    return Policy(
        portion_cm=_int(raw, "portion_cm", 60),
        window_seconds=_int(raw, "window_seconds", 540),
        daily_cap=_int(raw, "daily_cap", 0),
        min_interval_seconds=_int(raw, "min_interval_seconds", 0),
        presence_required=_bool(raw, "presence_required", False),
        face_mode_allowed=_bool(raw, "face_mode_allowed", False),
        unrestricted=_bool(raw, "unrestricted", False),
    )


def _parse_presence(raw: Any) -> Presence | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("secret"), str) or not raw["secret"]:
        raise RemoteConfigError("config field presence must be null or hold a secret")
    interval = _int(raw, "interval_seconds", 30)
    digits = _int(raw, "digits", 6)
    if interval == 0 or not 6 <= digits <= 10:
        raise RemoteConfigError("presence needs a positive interval and 6-10 digits")
    try:
        pyotp.TOTP(raw["secret"], digits=digits, interval=interval).at(0)
    except (ValueError, TypeError) as exc:
        raise RemoteConfigError(f"presence secret is unusable: {exc}") from exc
    return Presence(secret=raw["secret"], interval_seconds=interval, digits=digits)


def parse_remote_config(doc: Any) -> RemoteConfig:
    """Validate a backend configuration document and return it parsed."""
    if not isinstance(doc, dict):
        raise RemoteConfigError("the configuration document must be a JSON object")
    dispenser_id = doc.get("dispenser_id")
    try:
        id_bytes = dispenser_id_to_bytes(str(dispenser_id))
    except InvalidDispenserId as exc:
        raise RemoteConfigError(f"config field dispenser_id: {exc}") from exc
    try:
        keys = decode_public_keys(doc.get("token_keys", []))
    except ValueError as exc:
        raise RemoteConfigError(f"config field token_keys: {exc}") from exc
    site = doc.get("site") or {}
    visitor_url = doc.get("visitor_url", "")
    if not isinstance(visitor_url, str) or not isinstance(site, dict):
        raise RemoteConfigError("config fields visitor_url and site have the wrong type")
    return RemoteConfig(
        dispenser_id=str(dispenser_id),
        dispenser_id_bytes=id_bytes,
        enabled=_bool(doc, "enabled", True),
        site_name=str(site.get("name", "")),
        policy=_parse_policy(doc.get("policy", {})),
        token_keys=keys,
        presence=_parse_presence(doc.get("presence")),
        visitor_url=visitor_url,
        heartbeat_seconds=max(5, _int(doc, "heartbeat_seconds", 60)),
        config_refresh_seconds=max(10, _int(doc, "config_refresh_seconds", 300)),
    )
