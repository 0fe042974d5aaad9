"""Retention: delete raw data past its period (default 7 days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update

from backend.models import AccessToken, DailySecret, DeviceEvent, EnrollmentCode, QuotaUsage
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
    counts["device_event"] = _rowcount(
        session.execute(
            delete(DeviceEvent)
            .where(DeviceEvent.occurred_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    )
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
    return PurgeResult(counts)
