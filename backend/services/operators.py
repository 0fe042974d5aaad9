"""Operator accounts: Argon2 passwords, TOTP second factor, throttled logins."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from backend.errors import ConflictError, DomainError, InvalidInput
from backend.models import Operator
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


def _check_not_locked(operator: Operator, now: datetime) -> None:
    if operator.locked_until and operator.locked_until > now:
        wait = int((operator.locked_until - now).total_seconds()) + 1
        raise LoginLocked(
            f"too many failed attempts; try again in {wait} seconds", retry_after=wait
        )


def _fail(operator: Operator, now: datetime) -> LoginFailed:
    operator.failed_logins += 1
    lock = _lock_for(operator.failed_logins)
    if lock:
        operator.locked_until = now + lock
    return LoginFailed("wrong e-mail, password or code")


def check_password(session: Db, email: str, password: str, *, now: datetime) -> Operator:
    """First login step: the operator whose password this is, or LoginFailed/LoginLocked.

    Failures are counted on the account (the caller commits even when this raises).
    """
    try:
        email = normalise_email(email)
    except InvalidInput:
        raise LoginFailed("wrong e-mail, password or code") from None
    operator = session.scalar(select(Operator).where(Operator.email == email))
    if operator is None or not operator.active:
        _verify(_DUMMY_HASH, password)
        raise LoginFailed("wrong e-mail, password or code")
    _check_not_locked(operator, now)
    if not _verify(operator.password_hash, password):
        raise _fail(operator, now)
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
    """Second login step: accept a fresh TOTP code once, or raise LoginFailed/LoginLocked."""
    _check_not_locked(operator, now)
    code = code.strip().replace(" ", "")
    step = _matching_step(operator.totp_secret, code, now) if code.isdigit() else None
    if step is None or step <= operator.last_totp_step:
        raise _fail(operator, now)
    operator.last_totp_step = step
    operator.failed_logins = 0
    operator.locked_until = None
    operator.last_login_at = now
    if operator.totp_enrolled_at is None:
        operator.totp_enrolled_at = now
    session.flush()


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


def new_initial_password() -> str:
    """A random first password an admin hands to a new operator (changed on first use)."""
    return secrets.token_urlsafe(12)
