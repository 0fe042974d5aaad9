"""The dispenser's parsed view of the backend's configuration document.

The document itself (fields, policy, presence) is defined in protocol/device_config.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.device_config import (
    ConfigDocumentError,
    Policy,
    Presence,
    parse_policy,
    parse_presence,
    read_bool,
    read_int,
)
from protocol.ids import InvalidDispenserId, dispenser_id_to_bytes
from protocol.token import decode_public_keys

# The document's shape (policy, presence, field rules) is shared with the backend.
RemoteConfigError = ConfigDocumentError


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
        enabled=read_bool(doc, "enabled", True),
        site_name=str(site.get("name", "")),
        policy=parse_policy(doc.get("policy", {})),
        token_keys=keys,
        presence=parse_presence(doc.get("presence")),
        visitor_url=visitor_url,
        heartbeat_seconds=max(5, read_int(doc, "heartbeat_seconds", 60)),
        config_refresh_seconds=max(10, read_int(doc, "config_refresh_seconds", 300)),
    )
