"""The device side: enrollment, authentication, configuration and heartbeats."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, true, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from backend.errors import DeviceKeyInvalid, EnrollmentCodeInvalid, InvalidInput
from backend.models import DeviceCredential, Dispenser, EnrollmentCode
from backend.models.dispenser import DEVICE_STATUSES
from backend.services.secrets import normalise_grouped_code, sha256_hex
from backend.services.sql import Db, built_once, table_of
from protocol.device_config import Policy, Presence, config_document


@dataclass(frozen=True)
class Enrollment:
    """What a freshly enrolled device receives (the key is shown this once)."""

    dispenser: Dispenser
    device_key: str


def enroll_device(session: Db, code: str, *, now: datetime) -> Enrollment:
    """Spend an enrollment code (atomically) and give the device a new key."""
    code_hash = sha256_hex(normalise_grouped_code(code))
    dispenser_id = session.execute(
        update(EnrollmentCode)
        .where(
            EnrollmentCode.code_hash == code_hash,
            EnrollmentCode.used_at.is_(None),
            EnrollmentCode.expires_at > now,
        )
        .values(used_at=now)
        .returning(EnrollmentCode.dispenser_id)
    ).scalar_one_or_none()
    if dispenser_id is None:
        raise EnrollmentCodeInvalid("that enrollment code is unknown, already used or expired")
    # A dispenser has one device at a time: enrolling again revokes the old key.
    session.execute(
        update(DeviceCredential)
        .where(DeviceCredential.dispenser_id == dispenser_id, DeviceCredential.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    key = secrets.token_urlsafe(32)
    session.add(
        DeviceCredential(dispenser_id=dispenser_id, key_hash=sha256_hex(key), created_at=now)
    )
    session.flush()
    dispenser = session.get(Dispenser, dispenser_id)
    assert dispenser is not None
    return Enrollment(dispenser=dispenser, device_key=key)


def _build_dispenser_by_key(relaxed: bool) -> Callable[[str], Any]:
    def build(dialect: str) -> Any:
        # The site comes in the same statement: every device request needs its policy.
        statement = (
            select(Dispenser)
            .options(joinedload(Dispenser.site, innerjoin=True))
            .join(DeviceCredential, DeviceCredential.dispenser_id == Dispenser.id)
            .where(DeviceCredential.key_hash == bindparam("key_hash"))
            .where(DeviceCredential.revoked_at.is_(None))
        )
        if relaxed and dialect == "postgresql":
            # SET LOCAL synchronous_commit = off, in the same round trip.
            statement = statement.add_columns(func.set_config("synchronous_commit", "off", true()))
        return statement

    return build


# Built once (backend.services.sql.built_once): every device request runs one of them.
_DISPENSER_BY_KEY = built_once(_build_dispenser_by_key(relaxed=False))
_DISPENSER_BY_KEY_RELAXED = built_once(_build_dispenser_by_key(relaxed=True))


def authenticate_device(session: Db, device_key: str | None, *, relaxed: bool = False) -> Dispenser:
    """The dispenser whose live key this is, or DeviceKeyInvalid.

    ``relaxed``: the request's commit may return before its WAL reaches the disk
    (PostgreSQL), for writes that the next one replaces anyway (a heartbeat): a crash may
    lose the last fraction of a second of them, never corrupt anything, and the commit
    skips the wait for the disk (and for the standby, on a Multi-AZ database).
    """
    if not device_key or len(device_key) > 200:
        raise DeviceKeyInvalid("send the device key as 'Authorization: Bearer <key>'")
    statement = (_DISPENSER_BY_KEY_RELAXED if relaxed else _DISPENSER_BY_KEY)(session)
    dispenser: Dispenser | None = session.scalar(statement, {"key_hash": sha256_hex(device_key)})
    if dispenser is None:
        raise DeviceKeyInvalid("the device key is unknown or revoked; enroll the device again")
    return dispenser


def revoke_device_keys(session: Db, dispenser: Dispenser, *, now: datetime) -> int:
    """Revoke every live key of ``dispenser``; return how many were revoked."""
    result = session.execute(
        update(DeviceCredential)
        .where(DeviceCredential.dispenser_id == dispenser.id, DeviceCredential.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def device_config(
    dispenser: Dispenser,
    *,
    token_keys: list[dict[str, str]],
    visitor_url: str,
    heartbeat_seconds: int,
    config_refresh_seconds: int,
) -> dict[str, Any]:
    """The configuration document a device pulls (protocol/device_config.py)."""
    site = dispenser.site
    presence = None
    if site.presence_required:
        presence = Presence(secret=dispenser.presence_secret)
    policy = Policy(
        portion_cm=site.portion_cm,
        window_seconds=site.window_seconds,
        daily_cap=site.daily_cap,
        min_interval_seconds=site.min_interval_seconds,
        presence_required=site.presence_required,
        face_mode_allowed=site.face_mode_allowed,
        unrestricted=site.unrestricted or dispenser.unrestricted,
    )
    return config_document(
        dispenser_id=dispenser.public_id,
        enabled=dispenser.enabled,
        site_name=site.name,
        site_timezone=site.timezone,
        policy=policy,
        token_keys=token_keys,
        presence=presence,
        visitor_url=visitor_url,
        heartbeat_seconds=heartbeat_seconds,
        config_refresh_seconds=config_refresh_seconds,
    )


def config_etag(document: dict[str, Any]) -> str:
    """A strong ETag for a config document: changes exactly when the document does."""
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()
    return f'"{digest[:32]}"'


def record_heartbeat(
    session: Db,
    dispenser: Dispenser,
    *,
    paper_level: int,
    status: str,
    software_version: str | None,
    now: datetime,
) -> None:
    """Store what the device reports about itself."""
    if isinstance(paper_level, bool) or not isinstance(paper_level, int):
        raise InvalidInput("paper_level must be a whole number from 0 to 100")
    if not 0 <= paper_level <= 100:
        raise InvalidInput("paper_level must be between 0 and 100")
    if status not in DEVICE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(DEVICE_STATUSES)}")
    if software_version is not None and (
        not isinstance(software_version, str) or len(software_version) > 40
    ):
        raise InvalidInput("software_version must be text of at most 40 characters")
    # One UPDATE by primary key, built once; the loaded object gets the same values as
    # committed state, so the session has nothing left to flush for it.
    session.execute(
        _HEARTBEAT,
        {
            "dispenser_id": dispenser.id,
            "paper_level": paper_level,
            "status": status,
            "seen": now,
            "software_version": software_version or None,
        },
    )
    set_committed_value(dispenser, "paper_level", paper_level)
    set_committed_value(dispenser, "status", status)
    set_committed_value(dispenser, "last_heartbeat_at", now)
    if software_version:
        set_committed_value(dispenser, "software_version", software_version)


_DISPENSERS = table_of(Dispenser)
_HEARTBEAT = (
    update(_DISPENSERS)
    .where(_DISPENSERS.c.id == bindparam("dispenser_id"))
    .values(
        paper_level=bindparam("paper_level"),
        status=bindparam("status"),
        last_heartbeat_at=bindparam("seen"),
        software_version=func.coalesce(
            bindparam("software_version"), _DISPENSERS.c.software_version
        ),
    )
)
