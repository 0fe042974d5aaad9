"""Retention: delete raw data past its period (default 7 days); daily aggregates stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update

from backend.models import (
    AccessToken,
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


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Db, *, now: datetime, retention: timedelta) -> PurgeResult:
    """Delete tokens, events, quota records and enrollment codes older than ``retention``,
    and every daily visitor secret older than yesterday (so days cannot be linked)."""
    cutoff = now - retention
    counts: dict[str, int] = {}
    old_quota = QuotaUsage.last_portion_at < cutoff
    counts["quota_usage"] = _rowcount(
        session.execute(
            delete(QuotaUsage).where(old_quota).execution_options(synchronize_session=False)
        )
    )
    # Quota rows point at tokens; unlink survivors from tokens about to go.
    session.execute(
        update(QuotaUsage)
        .where(
            QuotaUsage.last_token_id.in_(
                AccessToken.__table__.select()
                .with_only_columns(AccessToken.id)
                .where(AccessToken.expires_at < cutoff)
            )
        )
        .values(last_token_id=None)
        .execution_options(synchronize_session=False)
    )
    counts["access_token"] = _rowcount(
        session.execute(
            delete(AccessToken)
            .where(AccessToken.expires_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    )
    # Raw events go, but each is counted into its daily aggregate first (same transaction).
    counts["device_event"] = roll_up_and_delete_events(session, before=cutoff)
    counts["enrollment_code"] = _rowcount(
        session.execute(
            delete(EnrollmentCode)
            .where(EnrollmentCode.expires_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    )
    yesterday = (now - timedelta(days=1)).date()
    counts["daily_secret"] = _rowcount(
        session.execute(
            delete(DailySecret)
            .where(DailySecret.day < yesterday)
            .execution_options(synchronize_session=False)
        )
    )
    counts.update(_purge_fleet_records(session, cutoff))
    return PurgeResult(counts)


def _purge_fleet_records(session: Db, cutoff: datetime) -> dict[str, int]:
    """Paper readings, and vouchers used or expired, past the retention period."""
    counts = {
        "paper_reading": _rowcount(
            session.execute(
                delete(PaperReading)
                .where(PaperReading.read_at < cutoff)
                .execution_options(synchronize_session=False)
            )
        ),
        "voucher": _rowcount(
            session.execute(
                delete(Voucher)
                .where(or_(Voucher.used_at < cutoff, Voucher.expires_at < cutoff))
                .execution_options(synchronize_session=False)
            )
        ),
    }
    return counts
