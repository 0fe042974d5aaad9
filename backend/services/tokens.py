"""Issuing tokens to visitors and redeeming them, each step a single conditional write.

A token holds one of its dispenser's live-token slots (backend.services.live_tokens)
until it expires, and the slot holds the token's typed-code hash, unique among the
dispenser's slots: so two live tokens at one dispenser never share a typed code, with
no lock, whatever order concurrent mints run in (a clash is a new draw).

On PostgreSQL, a token that every rule allows takes the dispenser's load and one
statement of data-modifying CTEs, each its own transaction (no BEGIN, no COMMIT; sent
straight to the driver, backend.services.direct): it checks every rule on its snapshot,
then claims a live-token slot for the token's code, inserts the token, takes the
visitor's portion and claims the minimum interval, each step from the previous one's
row (``_build_in_one``). A rule that refuses on the snapshot
stops it before any write; a write that a concurrent request made fail after the checks
passed makes the statement fail (``RACED``), which undoes all of it. Either way the same
rules then run one statement at a time in a transaction, as on SQLite: that path renews
an expired unused token's portion and words each refusal with its wait.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.errors import (
    DispenserBusy,
    DispenserUnavailable,
    InvalidInput,
    PresenceRequired,
)
from backend.models import AccessToken, Dispenser
from backend.models.dispenser import NON_DISPENSING_STATUSES
from backend.services.direct import Direct, rows
from backend.services.live_tokens import (
    CODE_HELD,
    DEFAULT_LIVE_TOKEN_CAP,
    FREE_SLOT_EXISTS,
    busy_try_again,
    claim_live_token_slot,
    claim_slot,
    code_held,
    is_code_clash,
)
from backend.services.quotas import (
    PORTION_AVAILABLE,
    consume_portion,
    take_portion,
    take_portion_parameters,
    visitor_hash,
)
from backend.services.secrets import keyed_hash, numeric_code
from backend.services.sites import find_dispenser_to_issue
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

# Parameters named unlike any column of a table that token issue's single statement
# updates: SQLAlchemy would add a parameter named after a column to an UPDATE's SET.
_PARAMETER_OF = {"dispenser_id": "dispenser", "site_id": "site"}


def _insert_token_unless_clash(after: Any = None) -> Any:
    """INSERT ... SELECT <the values> [FROM after] WHERE NOT EXISTS (a live token with this
    code here) RETURNING id. ``after``: the CTE whose row it needs (the claimed slot). A
    slot's unique code already rules a clash out; this catches a live token minted before
    slots held codes."""
    values = select(
        *(
            bindparam(_PARAMETER_OF.get(name, name), type_=_TOKENS.c[name].type).label(name)
            for name in _NEW_TOKEN_COLUMNS
        )
    )
    if after is not None:
        values = values.select_from(after)
    return (
        insert(_TOKENS)
        .from_select(list(_NEW_TOKEN_COLUMNS), values.where(~exists().where(_LIVE_CODE)))
        .returning(_TOKENS.c.id)
    )


_INSERT_TOKEN_UNLESS_CLASH = _insert_token_unless_clash()
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
        .values(redeemed_at=bindparam("now"), method="code")
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


_DISPENSER_ROWS = table_of(Dispenser)
_DISPENSER = _DISPENSER_ROWS.c.id == bindparam("dispenser")
# The site's minimum interval between portions at one dispenser (parameter: cutoff).
_INTERVAL_PASSED = or_(
    _DISPENSER_ROWS.c.last_issued_at.is_(None),
    _DISPENSER_ROWS.c.last_issued_at <= bindparam("cutoff"),
)
# The dispenser is on and neither empty nor jammed (check_can_dispense, as SQL).
_CAN_DISPENSE = exists().where(
    _DISPENSER,
    _DISPENSER_ROWS.c.enabled.is_(True),
    *(_DISPENSER_ROWS.c.status != status for status in sorted(NON_DISPENSING_STATUSES)),
)
# The interval's claim, as one conditional write.
_CLAIM_INTERVAL = (
    update(_DISPENSER_ROWS)
    .where(_DISPENSER, _INTERVAL_PASSED)
    .values(last_issued_at=bindparam("now"))
)


def _interval_cutoff(dispenser: Dispenser, now: datetime) -> datetime | None:
    """The last issue must be at or before this for a new one; None: no minimum interval."""
    interval = dispenser.site.min_interval_seconds
    return now - timedelta(seconds=interval) if interval > 0 else None


def _claim_interval(session: Db, dispenser: Dispenser, *, now: datetime) -> None:
    """Enforce the site's minimum interval between portions at one dispenser, atomically."""
    cutoff = _interval_cutoff(dispenser, now)
    if cutoff is None:
        return
    result = session.execute(
        _CLAIM_INTERVAL, {"dispenser": dispenser.id, "now": now, "cutoff": cutoff}
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise DispenserBusy(
            "this dispenser just gave out paper; try again in a moment",
            retry_after=dispenser.site.min_interval_seconds,
        )


# Token issue's single statement fails itself with this text in its error when, after its
# checks passed, one of its writes did not happen (a concurrent request got there first):
# it casts the text to a number, at run time (the text depends on the statement's rows).
RACED = "fairroll: token issue raced"


def _build_in_one(dialect: str) -> dict[tuple[bool, bool], Any]:
    """Token issue's common case as one statement of data-modifying CTEs, by (quota,
    minimum interval): check every rule on the snapshot (the dispenser can dispense, a
    free slot, the code in no slot, the visitor's portion, the interval); only then claim
    a live-token slot for the token's code, insert the token from the slot's row, take the
    visitor's portion from the token's row and claim the interval.

    The CTEs all see the snapshot of the statement's start, not each other's writes, so
    each step reads the previous one's RETURNING rows and runs only if it got one. The
    writes are the statements of the one-at-a-time path (same builders), the checks their
    rules (same expressions). The answer has one column per step: its row's id (slot
    number), NULL if it did not happen. A check that refuses leaves every column NULL and
    nothing written; a write that fails after the checks passed fails the statement by
    casting a text naming RACED to a number, which undoes its other writes.
    """
    if dialect != "postgresql":
        raise RuntimeError("token issue in one statement needs PostgreSQL's writable CTEs")
    variants: dict[tuple[bool, bool], Any] = {}
    for quota in (False, True):
        for paced in (False, True):
            checks: list[ColumnElement[bool]] = [
                _CAN_DISPENSE,
                FREE_SLOT_EXISTS,
                ~CODE_HELD,
            ]
            if quota:
                checks.append(PORTION_AVAILABLE)
            if paced:
                checks.append(exists().where(_DISPENSER, _INTERVAL_PASSED))
            allowed = select(and_(*checks).label("yes")).cte("allowed")
            slot = claim_slot(dialect).where(select(allowed.c.yes).scalar_subquery()).cte("slot")
            last = token = _insert_token_unless_clash(after=slot).cte("token")
            steps = {"slot": slot.c.slot, "token_id": token.c.id}
            if quota:
                last = take_portion(dialect, after=token).cte("portion")
                steps["portion"] = last.c.id
            if paced:
                last = (
                    _CLAIM_INTERVAL.where(exists().select_from(last))
                    .returning(_DISPENSER_ROWS.c.id)
                    .cte("paced")
                )
                steps["paced"] = last.c.id
            allowed_now = select(allowed.c.yes).scalar_subquery()
            raced = and_(
                allowed_now,
                select(last.c[0]).scalar_subquery().is_(None),  # the last step: any failed
            )
            variants[quota, paced] = select(
                *(select(column).scalar_subquery().label(name) for name, column in steps.items()),
                case((raced, cast(func.concat(RACED, " ", allowed_now), Integer))).label("raced"),
            )
    return variants


# PostgreSQL's, by (quota, minimum interval): token issue's common case.
_IN_ONE = {key: Direct(statement) for key, statement in _build_in_one("postgresql").items()}


def _claim_slot_with_unused_code(
    session: Db, code_key: bytes, dispenser: Dispenser, settings: TokenSettings, draft: _Draft
) -> tuple[str, str]:
    """Claim a live-token slot for a typed code no slot of this dispenser holds (a held
    one is drawn again; collisions are rare); the code and its hash."""
    for _ in range(8):
        code = numeric_code(settings.code_digits)
        hashed = code_hash(code_key, dispenser, code)
        if code_held(session, dispenser, hashed):
            continue
        claim_live_token_slot(
            session,
            dispenser,
            cap=settings.live_cap,
            now=draft.issued_at,
            until=draft.expires_at,
            code_hash=hashed,
        )
        return code, hashed
    raise DispenserBusy("too many codes are live at this dispenser; try again", retry_after=5)


@dataclass(frozen=True)
class _Draft:
    """A token about to be minted: its random id, signing key and times."""

    token_id: bytes
    key_id: bytes
    issued_at: datetime
    expires_at: datetime

    @classmethod
    def new(cls, ring: KeyRing, settings: TokenSettings, now: datetime) -> _Draft:
        now = now.replace(microsecond=0)  # tokens carry whole seconds
        return cls(
            token_id=secrets.token_bytes(TOKEN_ID_BYTES),
            key_id=key_id_for(ring.current.public_key()),
            issued_at=now,
            expires_at=now + settings.ttl,
        )

    def row(self, dispenser: Dispenser) -> dict[str, object]:
        """The parameters of the token's INSERT but its code."""
        return {
            "token_ref": token_ref(self.token_id),
            "dispenser": dispenser.id,
            "site": dispenser.site_id,
            "key_id": self.key_id.hex(),
            "now": self.issued_at,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    def signed(self, ring: KeyRing, dispenser: Dispenser, code: str) -> IssuedToken:
        claims = TokenClaims(
            key_id=self.key_id,
            token_id=self.token_id,
            dispenser_id=dispenser_id_to_bytes(dispenser.public_id),
            issued_at=self.issued_at,
            expires_at=self.expires_at,
        )
        return IssuedToken(
            token=sign_token(claims, ring.current),
            code=code,
            expires_at=self.expires_at,
            token_ref=token_ref(self.token_id),
        )


def _prepare(
    dispenser: Dispenser,
    presence_code: str | None,
    ring: KeyRing,
    settings: TokenSettings,
    *,
    now: datetime,
) -> _Draft:
    """What both paths do first: the dispenser's state and presence checks, and the
    token's draft."""
    check_can_dispense(dispenser)
    check_presence(dispenser, presence_code, now=now)
    return _Draft.new(ring, settings, now)


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
    """Check state, presence, quota and interval; mint a token bound to ``dispenser``.

    On PostgreSQL a token that every rule allows is minted in one statement
    (``_issue_in_one``), its own transaction outside one (backend.services.direct).
    Anything else rolls the session back (call this first in a transaction, if in one),
    loads the dispenser again (on its own, as the first load) and runs the rules one
    statement at a time in a transaction, as on SQLite: that path renews an expired unused
    token's portion and words each refusal with its wait. ``dispenser``: as
    ``find_dispenser_to_issue`` loads it.
    """
    # What both paths take, besides the dispenser.
    request: dict[str, Any] = {
        "visitor_id": visitor_id,
        "presence_code": presence_code,
        "ring": ring,
        "code_key": code_key,
        "settings": settings,
        "now": now,
    }
    if session.get_bind().dialect.name == "postgresql":
        public_id = dispenser.public_id
        issued = _issue_in_one(session, dispenser, **request)
        if issued is not None:
            return issued
        session.rollback()
        dispenser = find_dispenser_to_issue(session, public_id)  # as it is now
    return _issue_step_by_step(session, dispenser, **request)


def _issue_in_one(
    session: Db,
    dispenser: Dispenser,
    *,
    visitor_id: str,
    presence_code: str | None,
    ring: KeyRing,
    code_key: bytes,
    settings: TokenSettings,
    now: datetime,
) -> IssuedToken | None:
    """PostgreSQL: mint in one statement (_build_in_one), or None if a rule refused on its
    snapshot (nothing written) or a write failed after (the statement failed: nothing
    written, a transaction around it aborted; the caller rolls back)."""
    draft = _prepare(dispenser, presence_code, ring, settings, now=now)
    now = draft.issued_at
    code = numeric_code(settings.code_digits)
    hashed = code_hash(code_key, dispenser, code)
    parameters: dict[str, Any] = {
        **draft.row(dispenser),
        "code_hash": hashed,
        "hashed": hashed,
        "cap": settings.live_cap,
        "until": draft.expires_at,
    }
    site = dispenser.site
    quota = not (site.unrestricted or dispenser.unrestricted)
    if quota:
        day, vhash = visitor_hash(session, site, visitor_id, now=now)
        parameters.update(take_portion_parameters(site, vhash, day, now=now))
    cutoff = _interval_cutoff(dispenser, now)
    if cutoff is not None:
        parameters["cutoff"] = cutoff
    try:
        (steps,) = rows(session, _IN_ONE[quota, cutoff is not None], parameters)
    except IntegrityError as error:
        if not is_code_clash(error):
            raise
        return None  # a concurrent mint here drew the same code: the slots' unique code
    except DBAPIError as error:
        if RACED not in str(error.orig):
            raise
        return None
    if any(value is None for step, value in steps.items() if step != "raced"):
        return None
    return draft.signed(ring, dispenser, code)


def _issue_step_by_step(
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
    """Each rule its own statement, raising its refusal (SQLite; PostgreSQL's refusals)."""
    draft = _prepare(dispenser, presence_code, ring, settings, now=now)
    now = draft.issued_at
    code, hashed = _claim_slot_with_unused_code(session, code_key, dispenser, settings, draft)
    row_id = session.execute(
        _INSERT_TOKEN_UNLESS_CLASH, {**draft.row(dispenser), "code_hash": hashed, "hashed": hashed}
    ).scalar()
    if row_id is None:  # a live token from before slots held codes has it
        raise busy_try_again()
    site = dispenser.site
    if not (site.unrestricted or dispenser.unrestricted):
        consume_portion(
            session, site, visitor_id, token_id=row_id, now=now, clock_skew=settings.clock_skew
        )
    _claim_interval(session, dispenser, now=now)
    return draft.signed(ring, dispenser, code)


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
