"""Typed codes at the keypad: redemption behind per-dispenser throttling with back-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update

from backend.errors import InvalidInput, TooManyAttempts
from backend.models import CodeAttemptThrottle, Dispenser
from backend.services.sql import Db, insert_for
from backend.services.tokens import redeem_by_code

# Typos are normal: this many wrong codes in a row cost nothing. After that each further
# wrong code doubles the wait, up to the cap (RFC 4226 §7.3, RFC 8628 §5.1).
FREE_FAILURES = 5
MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True)
class CodeResult:
    """The outcome of a typed code: a redeemed token, or nothing (kind is None)."""

    kind: str | None
    ref: str | None = None
    expires_at: datetime | None = None


def backoff_for(failures: int) -> timedelta:
    """How long the keypad is blocked after ``failures`` consecutive wrong codes."""
    if failures <= FREE_FAILURES:
        return timedelta(0)
    return min(MAX_BACKOFF, timedelta(seconds=2 ** (failures - FREE_FAILURES)))


def _check_not_blocked(session: Db, dispenser: Dispenser, now: datetime) -> None:
    throttle = session.get(CodeAttemptThrottle, dispenser.id)
    if throttle and throttle.blocked_until and throttle.blocked_until > now:
        wait = int((throttle.blocked_until - now).total_seconds()) + 1
        raise TooManyAttempts("too many wrong codes here; please wait", retry_after=wait)


def _record_failure(session: Db, dispenser: Dispenser, now: datetime) -> None:
    table = CodeAttemptThrottle.__table__
    failures = session.execute(
        insert_for(session, CodeAttemptThrottle)
        .values(dispenser_id=dispenser.id, failures=1)
        .on_conflict_do_update(
            index_elements=["dispenser_id"], set_={"failures": table.c.failures + 1}
        )
        .returning(table.c.failures)
    ).scalar_one()
    wait = backoff_for(failures)
    if wait:
        session.execute(
            update(CodeAttemptThrottle)
            .where(CodeAttemptThrottle.dispenser_id == dispenser.id)
            .values(blocked_until=now + wait)
            .execution_options(synchronize_session=False)
        )


def _record_success(session: Db, dispenser: Dispenser) -> None:
    session.execute(
        update(CodeAttemptThrottle)
        .where(CodeAttemptThrottle.dispenser_id == dispenser.id)
        .values(failures=0, blocked_until=None)
        .execution_options(synchronize_session=False)
    )


def verify_typed_code(
    session: Db, dispenser: Dispenser, code: object, *, code_key: bytes, now: datetime
) -> CodeResult:
    """Redeem what was typed at ``dispenser``; wrong codes count towards the back-off.

    Returns ``CodeResult(kind=None)`` for a wrong code (the caller commits, so the
    failure is counted, then answers 422). Raises TooManyAttempts while blocked.
    """
    if not isinstance(code, str) or not code.isdigit() or not 6 <= len(code) <= 16:
        raise InvalidInput("code must be a string of 6 to 16 digits")
    _check_not_blocked(session, dispenser, now)
    redemption = redeem_by_code(session, dispenser, code, code_key=code_key, now=now)
    if redemption is not None:
        _record_success(session, dispenser)
        return CodeResult("token", redemption.token_ref, redemption.expires_at)
    _record_failure(session, dispenser, now)
    return CodeResult(None)
