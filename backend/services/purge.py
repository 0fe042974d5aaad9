"""Retention: delete raw data past its period (default 7 days); daily aggregates stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update

from backend.models import (
    AccessToken,
    CodeSourceBudget,
    DailySecret,
    EnrollmentCode,
    PaperReading,
    QuotaUsage,
    Voucher,
)
from backend.services.aggregates import roll_up_and_delete_events
from backend.services.sql import Db


@dataclass(frozen=True)
class PurgeResult:
    """Rows deleted, by table."""

    counts: dict[str, int]


def _delete(session: Db, model: Any, condition: ColumnElement[bool]) -> int:
    """Delete the rows of ``model`` matching ``condition``; return how many went."""
    result = session.execute(
        delete(model).where(condition).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Db, *, now: datetime, retention: timedelta) -> PurgeResult:
    """Delete tokens, events, quota records and enrollment codes older than ``retention``,
    and every daily visitor secret older than yesterday (so days cannot be linked)."""
    cutoff = now - retention
    counts = {"quota_usage": _delete(session, QuotaUsage, QuotaUsage.last_portion_at < cutoff)}
    # Quota rows point at tokens; unlink survivors from tokens about to go.
    session.execute(
        update(QuotaUsage)
        .where(
            QuotaUsage.last_token_id.in_(
                select(AccessToken.id).where(AccessToken.expires_at < cutoff)
            )
        )
        .values(last_token_id=None)
        .execution_options(synchronize_session=False)
    )
    counts["access_token"] = _delete(session, AccessToken, AccessToken.expires_at < cutoff)
    # Raw events go, but each is counted into its daily aggregate first (same transaction).
    counts["device_event"] = roll_up_and_delete_events(session, before=cutoff)
    counts["enrollment_code"] = _delete(session, EnrollmentCode, EnrollmentCode.expires_at < cutoff)
    yesterday = (now - timedelta(days=1)).date()
    counts["daily_secret"] = _delete(session, DailySecret, DailySecret.day < yesterday)
    # Per-address code budgets are keyed by that day's secret: useless (and unlinkable) after.
    counts["code_source_budget"] = _delete(
        session, CodeSourceBudget, CodeSourceBudget.day < yesterday
    )
    # Fleet records: paper readings, and vouchers used or expired.
    counts["paper_reading"] = _delete(session, PaperReading, PaperReading.read_at < cutoff)
    counts["voucher"] = _delete(
        session, Voucher, or_(Voucher.used_at < cutoff, Voucher.expires_at < cutoff)
    )
    return PurgeResult(counts)
