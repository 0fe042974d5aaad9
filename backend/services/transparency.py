"""Figures for the public transparency page of a site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from backend.models import DailyAggregate, DeviceEvent, Dispenser, Site
from backend.services.sql import Db
from protocol.events import EVENT_METHODS


def dispense_counts_by_method(
    session: Db, site: Site, *, since: datetime, now: datetime
) -> dict[str, int]:
    """Portions dispensed at ``site`` in [since, now], per method (every method, zeros too).

    Raw device events count where they are still kept; older ones were rolled into daily
    aggregates by the purge, which count for every UTC day that starts within the window.
    Each event is in exactly one of the two places, so nothing is counted twice.
    """
    counts = dict.fromkeys(EVENT_METHODS, 0)
    rows = session.execute(
        select(DeviceEvent.method, func.count(DeviceEvent.id))
        .join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id)
        .where(
            Dispenser.site_id == site.id,
            DeviceEvent.kind == "dispense",
            DeviceEvent.occurred_at >= since,
            DeviceEvent.occurred_at <= now,
        )
        .group_by(DeviceEvent.method)
    ).all()
    for method, count in rows:
        if method in counts:
            counts[method] = int(count)
    for method, count in _aggregated(session, site, since=since, now=now):
        if method in counts:
            counts[method] += int(count)
    return counts


def _aggregated(session: Db, site: Site, *, since: datetime, now: datetime) -> list[Any]:
    first_day = since.astimezone(UTC).date()
    if datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) < since:
        first_day += timedelta(days=1)  # a day that began before the window is left out
    return list(
        session.execute(
            select(DailyAggregate.method, func.sum(DailyAggregate.count))
            .join(Dispenser, Dispenser.id == DailyAggregate.dispenser_id)
            .where(
                Dispenser.site_id == site.id,
                DailyAggregate.kind == "dispense",
                DailyAggregate.day >= first_day,
                DailyAggregate.day <= now.astimezone(UTC).date(),
            )
            .group_by(DailyAggregate.method)
        ).all()
    )
