"""Vouchers: printed single-use keypad codes for a site, stored only as keyed hashes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from backend.errors import InvalidInput
from backend.models import Dispenser, Operator, Site, Voucher, VoucherBatch
from backend.services.secrets import keyed_hash, numeric_code
from backend.services.sql import Db

# Longer than the 6-digit token codes, so the two never share a length at the keypad.
VOUCHER_DIGITS = 10
MAX_BATCH_SIZE = 200


@dataclass(frozen=True)
class PrintedBatch:
    """A new batch and its codes: the only moment the codes exist in clear text."""

    batch: VoucherBatch
    codes: list[str]


def voucher_hash(code_key: bytes, site_id: int, code: str) -> str:
    """The stored form of a voucher code: keyed by the app secret and bound to its site."""
    return keyed_hash(code_key, "voucher", str(site_id), code)


def format_voucher(code: str) -> str:
    """A code as printed, in two groups of five digits, easy to read out and type."""
    return f"{code[:5]} {code[5:]}"


def create_voucher_batch(
    session: Db,
    site: Site,
    *,
    size: int,
    code_key: bytes,
    now: datetime,
    valid_for: timedelta,
    operator: Operator | None = None,
    note: str = "",
) -> PrintedBatch:
    """Make ``size`` fresh single-use codes for ``site``; only their hashes are stored."""
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise InvalidInput(f"a sheet holds 1 to {MAX_BATCH_SIZE} vouchers")
    if not timedelta(days=1) <= valid_for <= timedelta(days=366):
        raise InvalidInput("vouchers are valid for 1 to 366 days")
    batch = VoucherBatch(
        site_id=site.id,
        operator_id=operator.id if operator else None,
        size=size,
        note=note.strip()[:200],
        created_at=now,
        expires_at=now + valid_for,
    )
    session.add(batch)
    session.flush()
    codes: dict[str, str] = {}
    while len(codes) < size:
        wanted = size - len(codes)
        fresh = {voucher_hash(code_key, site.id, c): c for c in _codes(wanted)}
        taken = set(session.scalars(select(Voucher.code_hash).where(Voucher.code_hash.in_(fresh))))
        codes.update({h: c for h, c in fresh.items() if h not in taken and h not in codes})
    for hashed in codes:
        session.add(
            Voucher(
                batch_id=batch.id,
                site_id=site.id,
                code_hash=hashed,
                ref=secrets.token_hex(32),
                expires_at=batch.expires_at,
            )
        )
    session.flush()
    return PrintedBatch(batch, list(codes.values()))


def _codes(count: int) -> list[str]:
    return [numeric_code(VOUCHER_DIGITS) for _ in range(count)]


def redeem_voucher(
    session: Db, dispenser: Dispenser, code: str, *, code_key: bytes, now: datetime
) -> str | None:
    """Use the voucher with this code at ``dispenser``'s site; its ref, or None.

    One conditional UPDATE (WHERE used_at IS NULL): of any number of concurrent attempts
    with the same code, at most one gets the row.
    """
    if len(code) != VOUCHER_DIGITS or not code.isdigit():
        return None
    ref: str | None = session.execute(
        update(Voucher)
        .where(
            Voucher.code_hash == voucher_hash(code_key, dispenser.site_id, code),
            Voucher.site_id == dispenser.site_id,
            Voucher.used_at.is_(None),
            Voucher.expires_at > now,
        )
        .values(used_at=now, used_dispenser_id=dispenser.id)
        .returning(Voucher.ref)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return ref


@dataclass(frozen=True)
class BatchUsage:
    """How much of a printed sheet has been used."""

    batch: VoucherBatch
    used: int


def batch_usage(session: Db, *, site_id: int | None = None, limit: int = 50) -> list[BatchUsage]:
    """The newest batches with how many of their vouchers were used."""
    used = (
        select(Voucher.batch_id, func.count(Voucher.id).label("used"))
        .where(Voucher.used_at.is_not(None))
        .group_by(Voucher.batch_id)
        .subquery()
    )
    query = (
        select(VoucherBatch, func.coalesce(used.c.used, 0))
        .outerjoin(used, used.c.batch_id == VoucherBatch.id)
        .order_by(VoucherBatch.created_at.desc(), VoucherBatch.id.desc())
        .limit(limit)
    )
    if site_id is not None:
        query = query.where(VoucherBatch.site_id == site_id)
    return [BatchUsage(batch, int(count)) for batch, count in session.execute(query).all()]
