"""The configuration document both sides share: what the backend builds, the device reads."""

from __future__ import annotations

import pyotp
import pytest

from device.remote import parse_remote_config
from protocol.device_config import (
    ConfigDocumentError,
    Policy,
    Presence,
    config_document,
    parse_policy,
)
from protocol.ids import new_dispenser_public_id


def _document(**change: object) -> dict[str, object]:
    document = config_document(
        dispenser_id=new_dispenser_public_id(),
        enabled=True,
        site_name="Park East",
        site_timezone="Asia/Shanghai",
        policy=Policy(portion_cm=45, window_seconds=420, presence_required=True),
        token_keys=[],
        presence=Presence(secret=pyotp.random_base32()),
        visitor_url="https://paper.example/d/x",
        heartbeat_seconds=60,
        config_refresh_seconds=300,
    )
    return {**document, **change}


def test_what_the_backend_builds_the_device_reads_back() -> None:
    document = _document()
    remote = parse_remote_config(document)
    assert remote.policy == Policy(portion_cm=45, window_seconds=420, presence_required=True)
    assert remote.presence is not None and remote.presence.interval_seconds == 30
    assert (remote.site_name, remote.heartbeat_seconds) == ("Park East", 60)


def test_a_policy_field_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigDocumentError, match="window_seconds"):
        parse_policy({"window_seconds": "nine minutes"})
    with pytest.raises(ConfigDocumentError, match="face_mode_allowed"):
        parse_remote_config(_document(policy={"face_mode_allowed": 1}))
