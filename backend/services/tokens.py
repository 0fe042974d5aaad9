"""Issuing tokens to visitors and redeeming them, each step a single conditional write."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import bindparam, exists, func, insert, literal_column, or_, select, update

from backend.errors import (
    DispenserBusy,
    DispenserUnavailable,
    InvalidInput,
    PresenceRequired,
)
from backend.models import AccessToken, Dispenser
from backend.models.dispenser import NON_DISPENSING_STATUSES
from backend.services.live_tokens import DEFAULT_LIVE_TOKEN_CAP, claim_live_token_slot
from backend.services.quotas import consume_portion
from backend.services.secrets import keyed_hash, numeric_code
from backend.services.sql import Db, table_of
from backend.signing import KeyRing
from protocol.ids import dispenser_id_to_bytes
from protocol.token import TOKEN_ID_BYTES, TokenClaims, key_id_for, sign_token, token_ref

# The hot statements, built once (backend.services.sql.built_once explains why).
_TOKENS = table_of(AccessToken)
_LIVE_CODE = (
    (_TOKENS.c.dispenser_id == bindparam("dispenser"))
    & (_TOKENS.c.code_hash == bindparam("hashed"))
    & _TOKENS.c.redeemed_at.is_(None)
    & (_TOKENS.c.expires_at > bindparam("now"))
)
_NEW_TOKEN_COLUMNS = (
    "token_ref",
    "dispenser_id",
    "site_id",
    "key_id",
    "code_hash",
    "issued_at",
    "expires_at",
)
# INSERT ... SELECT <the values> WHERE NOT EXISTS (a live token with this code here).
_INSERT_TOKEN_UNLESS_CLASH = (
    insert(_TOKENS)
    .from_select(
        list(_NEW_TOKEN_COLUMNS),
        select(
            *(
                bindparam(name, type_=_TOKENS.c[name].type).label(name)
                for name in _NEW_TOKEN_COLUMNS
            )
        ).where(~exists().where(_LIVE_CODE)),
    )
    .returning(_TOKENS.c.id)
)
# The newest live token of a dispenser with a code hash: the one a typed code redeems.
NEWEST_LIVE_CODE = select(func.max(_TOKENS.c.id).label("id")).where(_LIVE_CODE)


def redeem_code_statement(token_id: Any, *, after: Any = None) -> Any:
    """The UPDATE that redeems ``token_id`` by its typed code if it is still live (its
    WHERE re-checks under the row lock); ``after``: a CTE that must have given a row."""
    conditions = [_TOKENS.c.id == token_id, _LIVE_CODE]
    if after is not None:
        conditions.append(exists(after.select()))
    return (
        update(_TOKENS)
        .where(*conditions)
        # The method inline, not as a bound value: SQLAlchemy (2.0/2.1) mislays the bound
        # values of an UPDATE used as a CTE once the statement comes from its cache.
        .values(redeemed_at=bindparam("now"), method=literal_column("'code'"))
        .returning(_TOKENS.c.token_ref, _TOKENS.c.expires_at)
    )


_REDEEM_BY_CODE = redeem_code_statement(NEWEST_LIVE_CODE.scalar_subquery())


@dataclass(frozen=True)
class TokenSettings:
    """How tokens are made: life, typed-code length, and the device's clock tolerance."""

    ttl: timedelta = timedelta(seconds=120)
    code_digits: int = 6
    clock_skew: timedelta = timedelta(seconds=30)
    live_cap: int = DEFAULT_LIVE_TOKEN_CAP


@dataclass(frozen=True)
class IssuedToken:
    """A token for the visitor's phone: QR text, typed code, expiry. Never stored."""

    token: str
    code: str
    expires_at: datetime
    token_ref: str


def code_hash(code_key: bytes, dispenser: Dispenser, code: str) -> str:
    """The stored form of a typed code: bound to its dispenser, keyed by the app secret."""
    return keyed_hash(code_key, dispenser.public_id, code)


def check_can_dispense(dispenser: Dispenser) -> None:
    """Raise DispenserUnavailable if the dispenser is disabled, empty or jammed."""
    if not dispenser.enabled:
        raise DispenserUnavailable("this dispenser is switched off", reason="disabled")
    if dispenser.status in NON_DISPENSING_STATUSES:
        raise DispenserUnavailable(
            f"this dispenser reports '{dispenser.status}'", reason=dispenser.status
        )


def check_presence(dispenser: Dispenser, presence_code: str | None, *, now: datetime) -> None:
    """When the site requires it, the code shown on the dispenser's screen must be current."""
    if not dispenser.site.presence_required:
        return
    if not presence_code:
        raise PresenceRequired("scan the code shown on the dispenser's screen")
    totp = pyotp.TOTP(dispenser.presence_secret)
    # valid_window=1 accepts the previous 30-second step: the visitor needs time to tap.
    if not totp.verify(presence_code, for_time=now, valid_window=1):
        raise PresenceRequired("that screen code has changed; scan the dispenser's screen again")


def _claim_interval(session: Db, dispenser: Dispenser, *, now: datetime) -> None:
    """Enforce the site's minimum interval between portions at one dispenser, atomically."""
    interval = dispenser.site.min_interval_seconds
    if interval <= 0:
        return
    cutoff = now - timedelta(seconds=interval)
    result = session.execute(
        update(Dispenser)
        .where(
            Dispenser.id == dispenser.id,
            or_(Dispenser.last_issued_at.is_(None), Dispenser.last_issued_at <= cutoff),
        )
        .values(last_issued_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise DispenserBusy(
            "this dispenser just gave out paper; try again in a moment", retry_after=interval
        )


def _lock_dispenser(session: Db, dispenser: Dispenser) -> None:
    """Mint one token at a time per dispenser: take its row lock (PostgreSQL) before the
    token's insert, so that of two mints at once the second one's check for a live token
    with the same typed code sees the first. SQLite runs one writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_DISPENSER, {"dispenser": dispenser.id})


_DISPENSER_ROWS = table_of(Dispenser)
_LOCK_DISPENSER = (
    select(_DISPENSER_ROWS.c.id)
    .where(_DISPENSER_ROWS.c.id == bindparam("dispenser"))
    .with_for_update()
)


def _insert_with_unused_code(
    session: Db, code_key: bytes, dispenser: Dispenser, digits: int, row: dict[str, object]
) -> tuple[str, int]:
    """Insert the token with a typed code no live token of this dispenser has: one
    conditional INSERT per try (collisions are rare); the code and the row id."""
    for _ in range(8):
        code = numeric_code(digits)
        hashed = code_hash(code_key, dispenser, code)
        row_id = session.execute(
            _INSERT_TOKEN_UNLESS_CLASH,
            {**row, "code_hash": hashed, "dispenser": dispenser.id, "hashed": hashed},
        ).scalar()
        if row_id is not None:
            return code, row_id
    raise DispenserBusy("too many codes are live at this dispenser; try again", retry_after=5)


def issue_token(
    session: Db,
    dispenser: Dispenser,
    *,
    visitor_id: str,
    presence_code: str | None,
    ring: KeyRing,
    code_key: bytes,
    settings: TokenSettings,
    now: datetime,
) -> IssuedToken:
    """Check state, presence, quota and interval; mint a token bound to ``dispenser``."""
    check_can_dispense(dispenser)
    check_presence(dispenser, presence_code, now=now)
    now = now.replace(microsecond=0)  # tokens carry whole seconds
    expires_at = now + settings.ttl
    _lock_dispenser(session, dispenser)
    claim_live_token_slot(session, dispenser, cap=settings.live_cap, now=now, until=expires_at)
    token_id = secrets.token_bytes(TOKEN_ID_BYTES)
    kid = key_id_for(ring.current.public_key())
    ref = token_ref(token_id)
    code, row_id = _insert_with_unused_code(
        session,
        code_key,
        dispenser,
        settings.code_digits,
        {
            "token_ref": ref,
            "dispenser_id": dispenser.id,
            "site_id": dispenser.site_id,
            "key_id": kid.hex(),
            "now": now,
            "issued_at": now,
            "expires_at": expires_at,
        },
    )
    site = dispenser.site
    if not (site.unrestricted or dispenser.unrestricted):
        consume_portion(
            session, site, visitor_id, token_id=row_id, now=now, clock_skew=settings.clock_skew
        )
    _claim_interval(session, dispenser, now=now)
    claims = TokenClaims(
        key_id=kid,
        token_id=token_id,
        dispenser_id=dispenser_id_to_bytes(dispenser.public_id),
        issued_at=now,
        expires_at=expires_at,
    )
    return IssuedToken(
        token=sign_token(claims, ring.current),
        code=code,
        expires_at=expires_at,
        token_ref=ref,
    )


@dataclass(frozen=True)
class Redemption:
    """A token just redeemed by its typed code."""

    token_ref: str
    expires_at: datetime


def redeem_by_code(
    session: Db, dispenser: Dispenser, code: str, *, code_key: bytes, now: datetime
) -> Redemption | None:
    """Redeem the live token with this typed code at this dispenser; None if there is none.

    One UPDATE whose WHERE re-checks "not redeemed, not expired": of any number of
    concurrent attempts (typed code twice, two devices, retries) at most one gets a row.
    """
    if not code.isdigit():
        raise InvalidInput("a typed code has digits only")
    hashed = code_hash(code_key, dispenser, code)
    row = session.execute(
        _REDEEM_BY_CODE, {"dispenser": dispenser.id, "hashed": hashed, "now": now}
    ).first()
    if row is None:
        return None
    return Redemption(token_ref=row.token_ref, expires_at=row.expires_at)


def mark_redeemed_by_qr(
    session: Db, dispenser: Dispenser, ref: str, *, redeemed_at: datetime
) -> bool:
    """Record that the device redeemed a token by QR (maybe offline); True if newly marked."""
    result = session.execute(
        update(AccessToken)
        .where(
            AccessToken.token_ref == ref,
            AccessToken.dispenser_id == dispenser.id,
            AccessToken.redeemed_at.is_(None),
        )
        .values(redeemed_at=redeemed_at, method="qr")
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Refusals a dispenser reports for a token it could read; shown on the phone holding it.
PHONE_REFUSALS = frozenset({"wrong_dispenser", "expired", "not_yet_valid", "already_used"})


def note_refusal(session: Db, ref: str, reason: str) -> bool:
    """Remember why a dispenser refused an unused token (for its phone); True if noted."""
    if reason not in PHONE_REFUSALS:
        return False
    result = session.execute(
        update(AccessToken)
        .where(AccessToken.token_ref == ref, AccessToken.redeemed_at.is_(None))
        .values(refusal=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
