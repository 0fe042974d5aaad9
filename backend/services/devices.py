"""The device side: enrollment, authentication, configuration and heartbeats."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, true, update
from sqlalchemy.orm.attributes import set_committed_value

from backend.errors import DeviceKeyInvalid, EnrollmentCodeInvalid, InvalidInput
from backend.models import DeviceCredential, Dispenser, EnrollmentCode, Site
from backend.models.dispenser import DEVICE_STATUSES
from backend.services.direct import Direct, rows
from backend.services.secrets import normalise_grouped_code, sha256_hex
from backend.services.sites import DISPENSER_AND_SITE_COLUMNS, dispenser_from_row, with_site_columns
from backend.services.sql import Db, table_of
from protocol.device_config import Policy, Presence, config_document

_DISPENSERS = table_of(Dispenser)
_SITES = table_of(Site)
_KEYS = table_of(DeviceCredential)


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


UNKNOWN_KEY = "the device key is unknown or revoked; enroll the device again"
# The dispenser of a live key, with its site (every device request needs its policy).
_DISPENSER_BY_KEY = Direct(
    with_site_columns()
    .join(_KEYS, _KEYS.c.dispenser_id == _DISPENSERS.c.id)
    .where(_KEYS.c.key_hash == bindparam("key_hash"), _KEYS.c.revoked_at.is_(None))
)


def check_key_form(device_key: str | None) -> str:
    """The key as sent, or DeviceKeyInvalid when there is none or it cannot be one."""
    if not device_key or len(device_key) > 200:
        raise DeviceKeyInvalid("send the device key as 'Authorization: Bearer <key>'")
    return device_key


def authenticate_device(session: Db, device_key: str | None) -> Dispenser:
    """The dispenser whose live key this is (with its site; read-only, in no session:
    ``dispenser_from_row``), or DeviceKeyInvalid."""
    key = check_key_form(device_key)
    found = rows(session, _DISPENSER_BY_KEY, {"key_hash": sha256_hex(key)})
    if not found:
        raise DeviceKeyInvalid(UNKNOWN_KEY)
    return dispenser_from_row(found[0])


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


@dataclass(frozen=True)
class Reading:
    """What a heartbeat reports, checked."""

    paper_level: int
    status: str
    software_version: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Reading:
        """The reading in a heartbeat's JSON body, or InvalidInput."""
        paper_level = body.get("paper_level")
        if isinstance(paper_level, bool) or not isinstance(paper_level, int):
            raise InvalidInput("paper_level must be a whole number from 0 to 100")
        if not 0 <= paper_level <= 100:
            raise InvalidInput("paper_level must be between 0 and 100")
        status = body.get("status")
        if status not in DEVICE_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(DEVICE_STATUSES)}")
        version = body.get("software_version")
        if version is not None and (not isinstance(version, str) or len(version) > 40):
            raise InvalidInput("software_version must be text of at most 40 characters")
        return cls(paper_level=paper_level, status=status, software_version=version or None)


@dataclass(frozen=True)
class StateBefore:
    """What a heartbeat replaced: the dispenser's state as stored until then (its alert
    conditions before, backend.services.alerts.DeviceState)."""

    enabled: bool
    last_heartbeat_at: datetime | None
    paper_level: int | None
    status: str


@dataclass(frozen=True)
class Beat:
    """A heartbeat recorded: the dispenser (and its site) as it is now, and before."""

    dispenser: Dispenser
    before: StateBefore


def record_heartbeat(
    session: Db, device_key: str | None, reading: Reading, *, now: datetime
) -> Beat:
    """Authenticate the device and store what it reports about itself.

    Its commit may return before its WAL reaches the disk (PostgreSQL): the next heartbeat
    replaces this one within a minute, so a crash may lose the last fraction of a second
    of them, never corrupt anything, and the commit skips the wait for the disk.

    On PostgreSQL that is one statement (``_HEARTBEAT_BY_KEY``): the UPDATE finds the
    dispenser by its key and returns it, its site and what it replaced. The dispenser and
    site it returns are built from those values and belong to no session (read them, do
    not change them). Elsewhere: the device lookup, then the UPDATE.
    """
    key = check_key_form(device_key)
    parameters = {
        "key_hash": sha256_hex(key),
        "reported_level": reading.paper_level,
        "reported_status": reading.status,
        "seen": now,
        "reported_version": reading.software_version,
    }
    if session.get_bind().dialect.name == "postgresql":
        found = rows(session, _HEARTBEAT_BY_KEY, parameters)
        if not found:
            raise DeviceKeyInvalid(UNKNOWN_KEY)
        return _beat_from(found[0])
    dispenser = authenticate_device(session, key)
    before = StateBefore(
        enabled=dispenser.enabled,
        last_heartbeat_at=dispenser.last_heartbeat_at,
        paper_level=dispenser.paper_level,
        status=dispenser.status,
    )
    session.execute(_HEARTBEAT, {**parameters, "dispenser": dispenser.id})
    # The returned object shows the stored values (it is in no session: nothing to flush).
    set_committed_value(dispenser, "paper_level", reading.paper_level)
    set_committed_value(dispenser, "status", reading.status)
    set_committed_value(dispenser, "last_heartbeat_at", now)
    if reading.software_version:
        set_committed_value(dispenser, "software_version", reading.software_version)
    return Beat(dispenser=dispenser, before=before)


# Parameters are named unlike any dispenser column: SQLAlchemy would add an execute
# parameter named after a column to an UPDATE's SET.
_REPORTED: dict[str, Any] = {
    "paper_level": bindparam("reported_level"),
    "status": bindparam("reported_status"),
    "last_heartbeat_at": bindparam("seen"),
    "software_version": func.coalesce(
        bindparam("reported_version"), _DISPENSERS.c.software_version
    ),
}
_HEARTBEAT = update(_DISPENSERS).where(_DISPENSERS.c.id == bindparam("dispenser")).values(_REPORTED)


# What a heartbeat replaces that its alert conditions read (enabled it leaves alone).
_REPLACED = ("last_heartbeat_at", "paper_level", "status")


def _heartbeat_by_key() -> Any:
    """PostgreSQL: UPDATE dispenser ... FROM dispenser AS was, site, device_credential
    WHERE the key is live RETURNING the new row, its site, the replaced state and SET
    LOCAL synchronous_commit = off. ``was`` is the row as the statement's snapshot saw it:
    the state replaced, unless another transaction changed the row meanwhile (the UPDATE
    then waits for it and applies to its version, as the lookup-then-UPDATE did; an alert
    judged from the older state is settled by the next heartbeat or the fleet job)."""
    was = _DISPENSERS.alias("was")
    return (
        update(_DISPENSERS)
        .where(
            _DISPENSERS.c.id == was.c.id,
            _SITES.c.id == was.c.site_id,
            _KEYS.c.dispenser_id == was.c.id,
            _KEYS.c.key_hash == bindparam("key_hash"),
            _KEYS.c.revoked_at.is_(None),
        )
        .values(_REPORTED)
        .returning(
            *DISPENSER_AND_SITE_COLUMNS,
            *(was.c[name].label(f"was_{name}") for name in _REPLACED),
            func.set_config("synchronous_commit", "off", true()).label("relaxed"),
        )
    )


_HEARTBEAT_BY_KEY = Direct(_heartbeat_by_key())


def _beat_from(row: Any) -> Beat:
    """The Beat in a row of ``_HEARTBEAT_BY_KEY``: the dispenser and its site as the row
    has them (``dispenser_from_row``), and the state it replaced."""
    dispenser = dispenser_from_row(row)
    before = StateBefore(
        enabled=dispenser.enabled,
        **{name: row[f"was_{name}"] for name in _REPLACED},
    )
    return Beat(dispenser=dispenser, before=before)
