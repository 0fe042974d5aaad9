"""Figures for the public transparency page of a site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from backend.models import (
    DailyAggregate,
    DailyCount,
    DeviceEvent,
    Dispenser,
    HourlyCount,
    Site,
)
from backend.services.aggregates import split_at_rolled_hours, whole_days
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


def offered_dispenses(
    session: Db, *, since: datetime, now: datetime, site_id: int | None = None
) -> dict[str, int]:
    """Dispenses in [since, now] at which a face scan was offered, per method.

    Read from the fact stored with each event (summed into the fleet job's hourly counts
    and the daily aggregates), not from the sites' current settings: turning face mode on
    or off never rewrites history. The hourly counts where complete, raw events for the
    rest (the hour in progress), the daily aggregates for purged days: a week of a city's
    raw events (about 12 million) is never scanned. A fixed number of set-based queries
    whatever the number of sites.
    """
    counts = dict.fromkeys(EVENT_METHODS, 0)
    queries = []
    hours, raw_parts = split_at_rolled_hours(session, since, now + _INCLUSIVE)
    days, hour_parts = whole_days(hours) if hours is not None else (None, [])
    if days is not None:
        queries.append(
            select(DailyCount.method, func.sum(DailyCount.face_offered))
            .where(
                DailyCount.kind == "dispense",
                DailyCount.day >= days[0],
                DailyCount.day < days[1],
                *([DailyCount.site_id == site_id] if site_id is not None else []),
            )
            .group_by(DailyCount.method)
        )
    for hours_start, hours_end in hour_parts:
        queries.append(
            select(HourlyCount.method, func.sum(HourlyCount.face_offered))
            .where(
                HourlyCount.kind == "dispense",
                HourlyCount.hour >= hours_start,
                HourlyCount.hour < hours_end,
                *([HourlyCount.site_id == site_id] if site_id is not None else []),
            )
            .group_by(HourlyCount.method)
        )
    for start, end in raw_parts:
        raw = (
            select(DeviceEvent.method, func.count(DeviceEvent.id))
            .join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id)
            .where(
                DeviceEvent.kind == "dispense",
                DeviceEvent.face_offered.is_(True),
                DeviceEvent.occurred_at >= start,
                DeviceEvent.occurred_at < end,
            )
            .group_by(DeviceEvent.method)
        )
        queries.append(raw.where(Dispenser.site_id == site_id) if site_id is not None else raw)
    first_day = since.astimezone(UTC).date()
    if datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) < since:
        first_day += timedelta(days=1)  # a day that began before the window is left out
    rolled = (
        select(DailyAggregate.method, func.sum(DailyAggregate.face_offered))
        .join(Dispenser, Dispenser.id == DailyAggregate.dispenser_id)
        .where(
            DailyAggregate.kind == "dispense",
            DailyAggregate.day >= first_day,
            DailyAggregate.day <= now.astimezone(UTC).date(),
        )
        .group_by(DailyAggregate.method)
    )
    queries.append(rolled.where(Dispenser.site_id == site_id) if site_id is not None else rolled)
    for query in queries:
        for method, count in session.execute(query).all():
            if method in counts and count:
                counts[method] += int(count)
    return counts


# The window's end is included: [since, now] is [since, now + 1 µs) at the stored precision.
_INCLUSIVE = timedelta(microseconds=1)


def opt_out_counts(counts: dict[str, int]) -> tuple[int, int]:
    """(not by face, all) among dispenses where face was offered; unrestricted ones asked
    nothing of anyone, so no choice was made there."""
    total = sum(n for method, n in counts.items() if method != "unrestricted")
    return total - counts.get("face", 0), total
