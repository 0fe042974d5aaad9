"""The configuration document the backend hands a dispenser (docs/device-api.md).

The backend builds it with ``config_document``; the dispenser reads its policy and
presence parts with ``parse_policy`` and ``parse_presence`` (device/remote.py parses the
rest, into its own view with the decoded keys). One definition of fields and defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyotp

PRESENCE_INTERVAL_SECONDS = 30
PRESENCE_DIGITS = 6


class ConfigDocumentError(ValueError):
    """The configuration document has a field this side cannot use."""


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
    interval_seconds: int = PRESENCE_INTERVAL_SECONDS
    digits: int = PRESENCE_DIGITS


def config_document(
    *,
    dispenser_id: str,
    enabled: bool,
    site_name: str,
    site_timezone: str,
    policy: Policy,
    token_keys: list[dict[str, str]],
    presence: Presence | None,
    visitor_url: str,
    heartbeat_seconds: int,
    config_refresh_seconds: int,
) -> dict[str, Any]:
    """The JSON document a device pulls from GET /device/config."""
    return {
        "dispenser_id": dispenser_id,
        "enabled": enabled,
        "site": {"name": site_name, "timezone": site_timezone},
        "policy": asdict(policy),
        "token_keys": token_keys,
        "presence": asdict(presence) if presence is not None else None,
        "visitor_url": visitor_url,
        "heartbeat_seconds": heartbeat_seconds,
        "config_refresh_seconds": config_refresh_seconds,
    }


def read_int(table: dict[str, Any], key: str, default: int) -> int:
    """A non-negative integer field, or ConfigDocumentError."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigDocumentError(f"config field {key} must be a non-negative integer")
    return value


def read_bool(table: dict[str, Any], key: str, default: bool) -> bool:
    """A true/false field, or ConfigDocumentError."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigDocumentError(f"config field {key} must be true or false")
    return value


def parse_policy(raw: Any) -> Policy:
    """The policy object of a config document, validated."""
    if not isinstance(raw, dict):
        raise ConfigDocumentError("config field policy must be an object")
    default = Policy()
    return Policy(
        portion_cm=read_int(raw, "portion_cm", default.portion_cm),
        window_seconds=read_int(raw, "window_seconds", default.window_seconds),
        daily_cap=read_int(raw, "daily_cap", default.daily_cap),
        min_interval_seconds=read_int(raw, "min_interval_seconds", default.min_interval_seconds),
        presence_required=read_bool(raw, "presence_required", default.presence_required),
        face_mode_allowed=read_bool(raw, "face_mode_allowed", default.face_mode_allowed),
        unrestricted=read_bool(raw, "unrestricted", default.unrestricted),
    )


def parse_presence(raw: Any) -> Presence | None:
    """The presence object of a config document (or null), validated."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("secret"), str) or not raw["secret"]:
        raise ConfigDocumentError("config field presence must be null or hold a secret")
    interval = read_int(raw, "interval_seconds", PRESENCE_INTERVAL_SECONDS)
    digits = read_int(raw, "digits", PRESENCE_DIGITS)
    if interval == 0 or not 6 <= digits <= 10:
        raise ConfigDocumentError("presence needs a positive interval and 6-10 digits")
    try:
        pyotp.TOTP(raw["secret"], digits=digits, interval=interval).at(0)
    except (ValueError, TypeError) as exc:
        raise ConfigDocumentError(f"presence secret is unusable: {exc}") from exc
    return Presence(secret=raw["secret"], interval_seconds=interval, digits=digits)
