"""Typed codes at the keypad: redemption behind failure budgets per dispenser and per source.

Each budget is a GCRA (generic cell rate algorithm) held in one integer: the
"theoretical arrival time" ``tat_ms``. Before a code is checked, one conditional upsert
claims a slot: ``tat = max(tat, now) + interval WHERE tat <= now + (burst - 1) * interval``.
So of any number of concurrent codes at most ``burst`` are checked at once, and over any
period ``t`` at most ``burst + t / interval`` (a sliding bound, RFC 4226 §7.3). A right
code gives back only the slot it claimed itself: failures stay counted, a success never
refills the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, exists, literal_column, select, update

from backend.errors import InvalidInput, TooManyAttempts
from backend.models import CodeAttemptThrottle, CodeSourceBudget, Dispenser
from backend.services.direct import Direct, rows
from backend.services.quotas import daily_secret
from backend.services.secrets import keyed_hash
from backend.services.sql import Db, built_once, insert_for_dialect
from backend.services.tokens import (
    NEWEST_LIVE_CODE,
    code_hash,
    redeem_by_code,
    redeem_code_statement,
)
from backend.services.vouchers import VOUCHER_DIGITS, redeem_voucher


@dataclass(frozen=True)
class Budget:
    """A failure budget: ``burst`` wrong codes at once, then one per ``interval``."""

    burst: int
    interval: timedelta

    @property
    def interval_ms(self) -> int:
        """The interval in milliseconds."""
        return int(self.interval.total_seconds() * 1000)

    def per_hour(self) -> int:
        """The most wrong codes checked in any hour (burst plus the refill)."""
        return self.burst + int(timedelta(hours=1) / self.interval)


# Typos are normal: six wrong codes at a dispenser cost nothing, then one every five
# minutes, so at most 6 + 12 = 18 wrong codes an hour at one dispenser.
DISPENSER_BUDGET = Budget(burst=6, interval=timedelta(minutes=5))
# One address (a site's network, a phone hotspot) across every dispenser it reaches.
SOURCE_BUDGET = Budget(burst=30, interval=timedelta(minutes=1))
FREE_FAILURES = DISPENSER_BUDGET.burst


@dataclass(frozen=True)
class CodeResult:
    """The outcome of a typed code: a redeemed token or voucher, or nothing (kind is None)."""

    kind: str | None
    ref: str | None = None
    expires_at: datetime | None = None


def _epoch_ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def _claim_upsert(
    dialect: str,
    model: Any,
    key_columns: tuple[str, ...],
    *,
    prefix: str = "",
    charge: Any = None,
    after: Any = None,
) -> Any:
    """The GCRA claim on ``model``'s row: ``tat = max(tat, now) + step WHERE tat <= now +
    tolerance``, an upsert RETURNING tat_ms (no row: refused). ``prefix`` starts the names
    of its parameters but ``now_ms``; ``charge`` replaces the step in what is added;
    ``after``: a CTE that must have given a row for this claim to happen at all."""
    table = model.__table__
    tat = table.c.tat_ms
    now_ms = bindparam("now_ms", type_=BigInteger)
    step = bindparam(f"{prefix}step", type_=BigInteger) if charge is None else charge
    keys = {name: bindparam(f"{prefix}{name}", type_=table.c[name].type) for name in key_columns}
    statement = insert_for_dialect(dialect, table)
    if after is None:
        statement = statement.values(**keys, tat_ms=now_ms + step)
    else:
        statement = statement.from_select(
            [*key_columns, "tat_ms"],
            select(*keys.values(), now_ms + step).select_from(after),
        )
    return statement.on_conflict_do_update(
        index_elements=[key_columns[0]],
        set_={"tat_ms": case((tat > now_ms, tat), else_=now_ms) + step},
        where=tat <= now_ms + bindparam(f"{prefix}tolerance", type_=BigInteger),
    ).returning(tat)


def _build_claim(model: Any, key_columns: tuple[str, ...]) -> Callable[[str], Any]:
    return lambda dialect: _claim_upsert(dialect, model, key_columns)


def _build_give_back(model: Any, key_column: str) -> Any:
    table = model.__table__
    return (
        update(table)
        .where(table.c[key_column] == bindparam("key"))
        .values(tat_ms=table.c.tat_ms - bindparam("step", type_=BigInteger))
    )


_SOURCE_KEY = ("source_hash", "day")
_DISPENSER_KEY = ("dispenser_id",)
# Built once (backend.services.sql.built_once; the give-backs as direct statements,
# backend.services.direct): each typed code runs them.
_CLAIMS = {
    CodeSourceBudget: built_once(_build_claim(CodeSourceBudget, _SOURCE_KEY)),
    CodeAttemptThrottle: built_once(_build_claim(CodeAttemptThrottle, _DISPENSER_KEY)),
}
_GIVE_BACKS = {
    CodeSourceBudget: Direct(_build_give_back(CodeSourceBudget, "source_hash")),
    CodeAttemptThrottle: Direct(_build_give_back(CodeAttemptThrottle, "dispenser_id")),
}


def _build_check_at_once() -> Any:
    """PostgreSQL: both claims and the redemption in one statement (data-modifying CTEs).

    The claims run in the sequential path's order (source, then dispenser, the dispenser's
    only if the source's gave a row) and the redemption only if both did. A code that names
    a live token when the statement starts is charged nothing: the sequential path charges
    it and then gives the slot back, which leaves the same ``max(tat, now)``. Of two
    attempts with one live code at once, the token's row lock lets one redeem it; the other
    gets no row and answers "wrong code" without being charged: it named a live code, so
    it was no guess.

    No parameter is named like a column of a table the statement writes: SQLAlchemy would
    take it as a value for that column too (it adds it to the UPDATE's SET in a CTE).
    """
    live = NEWEST_LIVE_CODE.cte("live")
    live_id = select(live.c.id).scalar_subquery()
    charge_for = {
        prefix: case(
            (live_id.is_not(None), literal_column("0", BigInteger)),
            else_=bindparam(f"{prefix}step", type_=BigInteger),
        )
        for prefix in ("source_", "dispenser_")
    }
    source = _claim_upsert(
        "postgresql",
        CodeSourceBudget,
        _SOURCE_KEY,
        prefix="source_",
        charge=charge_for["source_"],
    ).cte("source_claim")
    dispenser = _claim_upsert(
        "postgresql",
        CodeAttemptThrottle,
        _DISPENSER_KEY,
        prefix="dispenser_",
        charge=charge_for["dispenser_"],
        after=source,
    ).cte("dispenser_claim")
    redeemed = redeem_code_statement(live_id, after=dispenser).cte("redeemed")
    return select(
        live_id.is_not(None).label("live"),
        exists(select(source.c.tat_ms)).label("source_ok"),
        exists(select(dispenser.c.tat_ms)).label("dispenser_ok"),
        select(redeemed.c.token_ref).scalar_subquery().label("token_ref"),
        select(redeemed.c.expires_at).scalar_subquery().label("expires_at"),
    )


_CHECK_AT_ONCE = Direct(_build_check_at_once())


def _claim(session: Db, model: Any, key: dict[str, Any], budget: Budget, now: datetime) -> None:
    """Claim one slot of ``budget`` on the row ``key`` of ``model``, or raise TooManyAttempts."""
    claimed = session.execute(
        _CLAIMS[model](session), {**key, "now_ms": _epoch_ms(now), **_budget_values(budget)}
    ).first()
    if claimed is None:
        _refuse(session, model, key, budget, now)


def _budget_values(budget: Budget, prefix: str = "") -> dict[str, int]:
    step = budget.interval_ms
    return {f"{prefix}step": step, f"{prefix}tolerance": (budget.burst - 1) * step}


def _refuse(session: Db, model: Any, key: dict[str, Any], budget: Budget, now: datetime) -> None:
    """Raise TooManyAttempts, with the seconds until ``budget`` allows the next check."""
    now_ms = _epoch_ms(now)
    table = model.__table__
    first_key = next(iter(key))
    current = (
        session.scalar(select(table.c.tat_ms).where(table.c[first_key] == key[first_key])) or now_ms
    )
    tolerance = _budget_values(budget)["tolerance"]
    wait = max(1, math.ceil((current - tolerance - now_ms) / 1000))
    raise TooManyAttempts("too many wrong codes here; please wait", retry_after=wait)


def _give_back(session: Db, model: Any, key: dict[str, Any], budget: Budget) -> None:
    """Return a slot this request claimed: a right code's, or one whose check another budget
    refused (its own only: earlier failures stay counted)."""
    rows(session, _GIVE_BACKS[model], {"key": next(iter(key.values())), "step": budget.interval_ms})


def source_key(session: Db, source: str, *, now: datetime) -> dict[str, Any]:
    """The per-source budget's row key: the address hashed under today's secret."""
    day = now.date()
    return {
        "source_hash": keyed_hash(daily_secret(session, day, now=now), "code source", source),
        "day": day,
    }


def verify_typed_code(
    session: Db,
    dispenser: Dispenser,
    code: object,
    *,
    code_key: bytes,
    now: datetime,
    source: str | None = None,
    dispenser_budget: Budget = DISPENSER_BUDGET,
    source_budget: Budget = SOURCE_BUDGET,
) -> CodeResult:
    """Redeem what was typed at ``dispenser`` (a token code, else a site voucher) once the
    source's and the dispenser's failure budgets allow a check.

    Returns ``CodeResult(kind=None)`` for a wrong code (the caller commits, so the
    failure is counted, then answers 422; on PostgreSQL outside a transaction the claims'
    statement has committed it already). Raises TooManyAttempts when a budget is spent.
    """
    if not isinstance(code, str) or not code.isdigit() or not 6 <= len(code) <= 16:
        raise InvalidInput("code must be a string of 6 to 16 digits")
    # Always the source first, then the dispenser: one lock order, no deadlocks.
    claims: list[tuple[Any, dict[str, Any], Budget]] = []
    if source is not None:
        claims.append((CodeSourceBudget, source_key(session, source, now=now), source_budget))
    claims.append((CodeAttemptThrottle, {"dispenser_id": dispenser.id}, dispenser_budget))
    if len(claims) == 2 and session.get_bind().dialect.name == "postgresql":
        return _check_at_once(session, dispenser, code, claims, code_key=code_key, now=now)
    for model, key, budget in claims:
        _claim(session, model, key, budget, now)
    result = _redeem(session, dispenser, code, code_key=code_key, now=now)
    if result.kind is not None:
        _give_back_all(session, claims)
    return result


def _give_back_all(session: Db, claims: list[tuple[Any, dict[str, Any], Budget]]) -> None:
    for model, key, budget in claims:
        _give_back(session, model, key, budget)


def _check_at_once(
    session: Db,
    dispenser: Dispenser,
    code: str,
    claims: list[tuple[Any, dict[str, Any], Budget]],
    *,
    code_key: bytes,
    now: datetime,
) -> CodeResult:
    """verify_typed_code on PostgreSQL: one statement (_build_check_at_once) for the
    claims and a token's redemption; a voucher, rarer, takes the sequential steps after."""
    (_, source, source_budget), (_, _, dispenser_budget) = claims
    (row,) = rows(
        session,
        _CHECK_AT_ONCE,
        {
            **{f"source_{name}": value for name, value in source.items()},
            "dispenser_dispenser_id": dispenser.id,
            "dispenser": dispenser.id,
            "hashed": code_hash(code_key, dispenser, code),
            "now": now,
            "now_ms": _epoch_ms(now),
            **_budget_values(source_budget, "source_"),
            **_budget_values(dispenser_budget, "dispenser_"),
        },
    )
    if row["source_ok"] and not row["dispenser_ok"] and not row["live"]:
        # The source's slot was claimed for a check that the dispenser's budget refused:
        # give it back. (In a transaction the refusal's rollback would undo it anyway;
        # without one, as the endpoint runs this, the claim stands until given back.)
        _give_back(session, *claims[0])
    for (model, key, budget), claimed in zip(
        claims, (row["source_ok"], row["dispenser_ok"]), strict=True
    ):
        if not claimed:
            _refuse(session, model, key, budget, now)
    if row["token_ref"] is not None:
        return CodeResult("token", row["token_ref"], row["expires_at"])
    result = _redeem_voucher(session, dispenser, code, code_key=code_key, now=now)
    if result.kind is not None:
        _give_back_all(session, claims)
    return result


def _redeem(
    session: Db, dispenser: Dispenser, code: str, *, code_key: bytes, now: datetime
) -> CodeResult:
    redemption = redeem_by_code(session, dispenser, code, code_key=code_key, now=now)
    if redemption is not None:
        return CodeResult("token", redemption.token_ref, redemption.expires_at)
    return _redeem_voucher(session, dispenser, code, code_key=code_key, now=now)


def _redeem_voucher(
    session: Db, dispenser: Dispenser, code: str, *, code_key: bytes, now: datetime
) -> CodeResult:
    """No token has this code: it may be a staff voucher for this dispenser's site."""
    if len(code) == VOUCHER_DIGITS:
        voucher_ref = redeem_voucher(session, dispenser, code, code_key=code_key, now=now)
        if voucher_ref is not None:
            return CodeResult("voucher", voucher_ref)
    return CodeResult(None)
