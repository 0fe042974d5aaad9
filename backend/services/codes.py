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

from sqlalchemy import BigInteger, bindparam, case, select, update

from backend.errors import InvalidInput, TooManyAttempts
from backend.models import CodeAttemptThrottle, CodeSourceBudget, Dispenser
from backend.services.quotas import daily_secret
from backend.services.secrets import keyed_hash
from backend.services.sql import Db, built_once, insert_for_dialect
from backend.services.tokens import redeem_by_code
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


def _build_claim(model: Any, key_columns: tuple[str, ...]) -> Callable[[str], Any]:
    def build(dialect: str) -> Any:
        table = model.__table__
        tat = table.c.tat_ms
        now_ms = bindparam("now_ms", type_=BigInteger)
        return (
            insert_for_dialect(dialect, table)
            .values(
                **{name: bindparam(name) for name in key_columns},
                tat_ms=now_ms + bindparam("step", type_=BigInteger),
            )
            .on_conflict_do_update(
                index_elements=[key_columns[0]],
                set_={
                    "tat_ms": case((tat > now_ms, tat), else_=now_ms)
                    + bindparam("step", type_=BigInteger)
                },
                where=tat <= now_ms + bindparam("tolerance", type_=BigInteger),
            )
            .returning(tat)
        )

    return build


def _build_give_back(model: Any, key_column: str) -> Any:
    table = model.__table__
    return (
        update(table)
        .where(table.c[key_column] == bindparam("key"))
        .values(tat_ms=table.c.tat_ms - bindparam("step", type_=BigInteger))
    )


# Built once (backend.services.sql.built_once): each typed code runs them.
_CLAIMS = {
    CodeSourceBudget: built_once(_build_claim(CodeSourceBudget, ("source_hash", "day"))),
    CodeAttemptThrottle: built_once(_build_claim(CodeAttemptThrottle, ("dispenser_id",))),
}
_GIVE_BACKS = {
    CodeSourceBudget: _build_give_back(CodeSourceBudget, "source_hash"),
    CodeAttemptThrottle: _build_give_back(CodeAttemptThrottle, "dispenser_id"),
}


def _claim(session: Db, model: Any, key: dict[str, Any], budget: Budget, now: datetime) -> None:
    """Claim one slot of ``budget`` on the row ``key`` of ``model``, or raise TooManyAttempts."""
    now_ms = _epoch_ms(now)
    step = budget.interval_ms
    tolerance = (budget.burst - 1) * step
    claimed = session.execute(
        _CLAIMS[model](session), {**key, "now_ms": now_ms, "step": step, "tolerance": tolerance}
    ).first()
    if claimed is not None:
        return
    table = model.__table__
    first_key = next(iter(key))
    current = (
        session.scalar(select(table.c.tat_ms).where(table.c[first_key] == key[first_key])) or now_ms
    )
    wait = max(1, math.ceil((current - tolerance - now_ms) / 1000))
    raise TooManyAttempts("too many wrong codes here; please wait", retry_after=wait)


def _give_back(session: Db, model: Any, key: dict[str, Any], budget: Budget) -> None:
    """Return the slot a right code claimed (its own only: earlier failures stay counted)."""
    session.execute(
        _GIVE_BACKS[model], {"key": next(iter(key.values())), "step": budget.interval_ms}
    )


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
    failure is counted, then answers 422). Raises TooManyAttempts when a budget is spent.
    """
    if not isinstance(code, str) or not code.isdigit() or not 6 <= len(code) <= 16:
        raise InvalidInput("code must be a string of 6 to 16 digits")
    # Always the source first, then the dispenser: one lock order, no deadlocks.
    claims: list[tuple[Any, dict[str, Any], Budget]] = []
    if source is not None:
        claims.append((CodeSourceBudget, source_key(session, source, now=now), source_budget))
    claims.append((CodeAttemptThrottle, {"dispenser_id": dispenser.id}, dispenser_budget))
    for model, key, budget in claims:
        _claim(session, model, key, budget, now)
    result = _redeem(session, dispenser, code, code_key=code_key, now=now)
    if result.kind is not None:
        for model, key, budget in claims:
            _give_back(session, model, key, budget)
    return result


def _redeem(
    session: Db, dispenser: Dispenser, code: str, *, code_key: bytes, now: datetime
) -> CodeResult:
    redemption = redeem_by_code(session, dispenser, code, code_key=code_key, now=now)
    if redemption is not None:
        return CodeResult("token", redemption.token_ref, redemption.expires_at)
    if len(code) == VOUCHER_DIGITS:
        # No token has this code: it may be a staff voucher for this dispenser's site.
        voucher_ref = redeem_voucher(session, dispenser, code, code_key=code_key, now=now)
        if voucher_ref is not None:
            return CodeResult("voucher", voucher_ref)
    return CodeResult(None)
