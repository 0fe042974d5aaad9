"""Operator accounts: Argon2 passwords, TOTP second factor, throttled logins.

Every login attempt first claims a slot on the account with one conditional UPDATE
(``WHERE locked_until IS NULL OR locked_until <= :now``) that counts it and, from the
FREE_LOGIN_FAILURES-th attempt on, sets the lock in the same statement. Only a claimed
attempt is evaluated, so no number of concurrent requests gets more than
FREE_LOGIN_FAILURES wrong passwords checked. A right answer hands its slot back.
A TOTP code is accepted by ``UPDATE ... WHERE last_totp_step < :step``: one code, one login.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, case, func, literal, null, or_, select, update

from backend.errors import ConflictError, DomainError, InvalidInput
from backend.models import Operator
from backend.models.base import UTCDateTime
from backend.models.operator import OPERATOR_ROLES
from backend.services.sql import Db

MIN_PASSWORD_LENGTH = 12
TOTP_ISSUER = "fairroll"
TOTP_INTERVAL = 30
# Wrong passwords or codes in a row before the account is locked, and how the lock grows.
FREE_LOGIN_FAILURES = 5
MAX_LOCK = timedelta(minutes=15)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")
# Argon2id with RFC 9106's second recommended profile (64 MiB, 3 passes, 4 lanes).
PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)
# Verified against when the e-mail is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash and verify with ``hasher`` from now on (the test suite's cheap parameters)."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


class LoginFailed(DomainError):
    """Wrong e-mail, password or code (the message never says which)."""

    status = 401
    code = "login_failed"


class TotpCodeReused(LoginFailed):
    """The right TOTP code, but it already signed someone in: wait for the next one."""

    code = "totp_code_reused"


class LoginLocked(DomainError):
    """Too many failed logins for this account; ``retry_after`` says when to try again."""

    status = 429
    code = "login_locked"


@dataclass(frozen=True)
class NewOperator:
    """A created operator and its TOTP provisioning URI (shown once, to enrol)."""

    operator: Operator
    otpauth_uri: str


def normalise_email(email: str) -> str:
    """Trim and lower-case an e-mail address, or raise InvalidInput."""
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidInput("enter a valid e-mail address")
    return email


def check_password_strength(password: str) -> None:
    """Raise InvalidInput unless the password is long enough to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 256:
        raise InvalidInput("a password has at most 256 characters")


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password``."""
    return _hasher.hash(password)


def provisioning_uri(operator: Operator) -> str:
    """The otpauth:// URI an authenticator app scans to enrol this operator."""
    totp = pyotp.TOTP(operator.totp_secret, interval=TOTP_INTERVAL)
    return str(totp.provisioning_uri(name=operator.email, issuer_name=TOTP_ISSUER))


def create_operator(
    session: Db,
    email: str,
    password: str,
    *,
    role: str,
    now: datetime,
    totp_secret: str | None = None,
    totp_enrolled: bool = False,
) -> NewOperator:
    """Create an operator with a fresh TOTP secret; flush, return it with its URI."""
    email = normalise_email(email)
    if role not in OPERATOR_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(OPERATOR_ROLES)}")
    check_password_strength(password)
    if session.scalar(select(Operator.id).where(Operator.email == email)) is not None:
        raise ConflictError(f"an operator with e-mail {email} already exists")
    operator = Operator(
        email=email,
        password_hash=hash_password(password),
        totp_secret=totp_secret or pyotp.random_base32(),
        totp_enrolled_at=now if totp_enrolled else None,
        role=role,
        created_at=now,
    )
    session.add(operator)
    session.flush()
    return NewOperator(operator, provisioning_uri(operator))


def audit_name_for_login(session: Db, email: str) -> str:
    """What the audit log may say a failed login named: an existing operator's e-mail, or
    "unknown" (people type passwords into the e-mail field; that must not be stored)."""
    try:
        email = normalise_email(email)
    except InvalidInput:
        return "unknown"
    known = session.scalar(select(Operator.email).where(Operator.email == email))
    return known or "unknown"


def count_admins(session: Db) -> int:
    """How many active admins exist."""
    return int(
        session.scalar(
            select(func.count(Operator.id)).where(Operator.role == "admin", Operator.active)
        )
        or 0
    )


def _lock_for(failures: int) -> timedelta:
    if failures < FREE_LOGIN_FAILURES:
        return timedelta(0)
    return min(MAX_LOCK, timedelta(seconds=30 * 2 ** (failures - FREE_LOGIN_FAILURES)))


def _lock_after_this_attempt(now: datetime) -> ColumnElement[datetime | None]:
    """SQL for the lock the claimed attempt sets, from the count before it (old value)."""
    attempts = Operator.failed_logins + 1
    # Only a handful of distinct lock lengths exist below the cap: one CASE branch each.
    branches = []
    failures = FREE_LOGIN_FAILURES
    while _lock_for(failures) < MAX_LOCK:
        failures += 1
    for count in range(failures, FREE_LOGIN_FAILURES - 1, -1):
        branches.append((attempts >= count, literal(now + _lock_for(count), UTCDateTime())))
    return case(*branches, else_=null())


def _claim_attempt(session: Db, operator: Operator, now: datetime) -> None:
    """Count one login attempt on ``operator`` before it is evaluated, or raise LoginLocked.

    One conditional UPDATE: concurrent attempts queue on the row, and each sees the
    count and lock the previous one left.
    """
    claimed = session.execute(
        update(Operator)
        .where(
            Operator.id == operator.id,
            or_(Operator.locked_until.is_(None), Operator.locked_until <= now),
        )
        .values(
            failed_logins=Operator.failed_logins + 1, locked_until=_lock_after_this_attempt(now)
        )
        .returning(Operator.id)
        .execution_options(synchronize_session=False)
    ).first()
    session.refresh(operator)
    if claimed is None:
        locked_until = operator.locked_until or now
        wait = int((locked_until - now).total_seconds()) + 1
        raise LoginLocked(
            f"too many failed attempts; try again in {wait} seconds", retry_after=wait
        )


def _release_attempt(session: Db, operator: Operator) -> None:
    """Give back the slot a right answer claimed (the row is still ours: we hold its lock)."""
    session.execute(
        update(Operator)
        .where(Operator.id == operator.id, Operator.failed_logins > 0)
        .values(failed_logins=Operator.failed_logins - 1, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(operator)


def _failed() -> LoginFailed:
    return LoginFailed("wrong e-mail, password or code")


def check_password(session: Db, email: str, password: str, *, now: datetime) -> Operator:
    """First login step: the operator whose password this is, or LoginFailed/LoginLocked.

    Failures are counted on the account (the caller commits even when this raises).
    """
    try:
        email = normalise_email(email)
    except InvalidInput:
        raise _failed() from None
    operator = session.scalar(select(Operator).where(Operator.email == email))
    if operator is None or not operator.active:
        _verify(_DUMMY_HASH, password)
        raise _failed()
    _claim_attempt(session, operator, now)
    if not _verify(operator.password_hash, password):
        raise _failed()
    _release_attempt(session, operator)
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
    session.flush()
    return operator


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The TOTP time step (now or one either side) whose code equals ``code``."""
    totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL)
    current = int(now.timestamp()) // TOTP_INTERVAL
    for step in (current - 1, current, current + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected.encode(), code.encode()):
            return step
    return None


def check_totp(session: Db, operator: Operator, code: str, *, now: datetime) -> None:
    """Second login step: accept a fresh TOTP code once.

    Raises LoginLocked, LoginFailed (wrong code, counted), or TotpCodeReused (the right
    code, already used: not counted as a failure).
    """
    _claim_attempt(session, operator, now)
    code = code.strip().replace(" ", "")
    step = _matching_step(operator.totp_secret, code, now) if code.isdigit() else None
    if step is None:
        raise _failed()
    accepted = session.execute(
        update(Operator)
        .where(Operator.id == operator.id, Operator.last_totp_step < step)
        .values(
            last_totp_step=step,
            failed_logins=0,
            locked_until=None,
            last_login_at=now,
            totp_enrolled_at=func.coalesce(Operator.totp_enrolled_at, literal(now, UTCDateTime())),
        )
        .execution_options(synchronize_session=False)
    )
    if not accepted.rowcount:  # type: ignore[attr-defined]
        _release_attempt(session, operator)
        raise TotpCodeReused("this code was just used: wait for the next one")
    session.refresh(operator)


def change_password(session: Db, operator: Operator, new_password: str) -> None:
    """Set a new password and end the operator's other sessions."""
    check_password_strength(new_password)
    operator.password_hash = hash_password(new_password)
    operator.session_version += 1
    session.flush()


def set_active(session: Db, operator: Operator, active: bool) -> None:
    """Activate or deactivate an account; deactivation ends its sessions at once."""
    if not active and operator.role == "admin" and operator.active and count_admins(session) <= 1:
        raise InvalidInput("the last active admin cannot be deactivated")
    operator.active = active
    operator.session_version += 1
    session.flush()


def set_role(session: Db, operator: Operator, role: str) -> None:
    """Change an operator's role; the change ends its sessions at once."""
    if role not in OPERATOR_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(OPERATOR_ROLES)}")
    if role == operator.role:
        return
    if operator.role == "admin" and operator.active and count_admins(session) <= 1:
        raise InvalidInput("the last active admin cannot lose the admin role")
    operator.role = role
    operator.session_version += 1
    session.flush()


def end_sessions(session: Db, operator_id: int) -> None:
    """End every session of the operator, on every browser (one UPDATE of the generation)."""
    session.execute(
        update(Operator)
        .where(Operator.id == operator_id)
        .values(session_version=Operator.session_version + 1)
        .execution_options(synchronize_session=False)
    )


def new_initial_password() -> str:
    """A random first password an admin hands to a new operator (changed on first use)."""
    return secrets.token_urlsafe(12)
