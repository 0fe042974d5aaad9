"""Daily aggregates: raw events rolled up per dispenser, day, method and kind."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Select, cast, delete, func, select, text

from backend.models import (
    DailyAggregate,
    DailyCount,
    DeviceEvent,
    Dispenser,
    FleetJobRun,
    HourlyCount,
)
from backend.services.sql import Db, insert_for

# PostgreSQL: the old events deleted, their counts added to the daily aggregates and the
# number deleted, in one statement: the rows stay in the database, however many a city's
# day holds (about 1.7 million), and exactly the rows the DELETE removed are counted.
_ROLL_UP_AND_DELETE_POSTGRES = text(
    """
    WITH gone AS (
        DELETE FROM device_event WHERE occurred_at < :before
        RETURNING dispenser_id, occurred_at, method, kind, face_offered
    ), added AS (
        INSERT INTO daily_aggregate (dispenser_id, day, method, kind, count, face_offered)
        SELECT dispenser_id, (occurred_at AT TIME ZONE 'UTC')::date, method, kind,
               count(*), count(*) FILTER (WHERE face_offered)
        FROM gone
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (dispenser_id, day, method, kind) DO UPDATE
        SET count = daily_aggregate.count + excluded.count,
            face_offered = daily_aggregate.face_offered + excluded.face_offered
    )
    SELECT count(*) FROM gone
    """
)


def roll_up_and_delete_events(session: Db, *, before: datetime) -> int:
    """Delete raw events older than ``before``, adding each to its daily aggregate; return
    how many were deleted. Set-based on both databases: no event passes through Python.

    PostgreSQL: one statement, whose DELETE returns the rows that are counted, so an event
    uploaded late, during the purge, is either counted and deleted or left for next time.
    SQLite (one writer at a time, holding the write lock from the transaction's start):
    the old events counted into the aggregates, then deleted.
    """
    if session.get_bind().dialect.name == "postgresql":
        return int(session.scalar(_ROLL_UP_AND_DELETE_POSTGRES, {"before": before}) or 0)
    old = DeviceEvent.occurred_at < before
    day = func.date(DeviceEvent.occurred_at)  # naive UTC text, as SQLite stores it
    counted = (
        select(
            DeviceEvent.dispenser_id,
            day,
            DeviceEvent.method,
            DeviceEvent.kind,
            func.count(),
            func.count().filter(DeviceEvent.face_offered.is_(True)),
        )
        .where(old)
        .group_by(DeviceEvent.dispenser_id, day, DeviceEvent.method, DeviceEvent.kind)
    )
    insert = insert_for(session, DailyAggregate).from_select(
        ["dispenser_id", "day", "method", "kind", "count", "face_offered"], counted
    )
    table = DailyAggregate.__table__
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["dispenser_id", "day", "method", "kind"],
            set_={
                "count": table.c.count + insert.excluded.count,
                "face_offered": table.c.face_offered + insert.excluded.face_offered,
            },
        )
    )
    deleted = session.execute(
        delete(DeviceEvent).where(old).execution_options(synchronize_session=False)
    )
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_bucket(session: Db, column: Any, unit: str) -> Any:
    """A SQL expression truncating a UTC timestamp column to its ``unit`` (hour or day)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(unit, func.timezone("UTC", column))
    # SQLite stores naive UTC text ("YYYY-MM-DD HH:MM:SS...").
    pattern = "%Y-%m-%d %H:00:00" if unit == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(pattern, column)


def hour_of(session: Db, column: Any) -> Any:
    """A SQL expression for the UTC hour of a timestamp column, as a UTC timestamp again
    (PostgreSQL: timestamptz whatever the session's time zone; SQLite: naive UTC text)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.timezone("UTC", utc_bucket(session, column, "hour"))
    # The text form SQLAlchemy stores datetimes in, so stored hours compare as equal.
    return func.strftime("%Y-%m-%d %H:00:00.000000", column)


def utc_day(session: Db, column: Any) -> Any:
    """A SQL expression for the UTC date of a timestamp column, as a Date column stores it."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite: naive UTC text in, "YYYY-MM-DD" out


def hourly_sums_by_day(session: Db, *conditions: Any) -> Select[Any]:
    """The hourly counts meeting ``conditions`` summed per site, UTC day, method and kind:
    rows of (site id, day, method, kind, count, face offered); the day as the driver
    returns a date (a date, or "YYYY-MM-DD" text on SQLite: :func:`bucket_time` reads both)."""
    day = utc_day(session, HourlyCount.hour).label("day")
    return (
        select(
            HourlyCount.site_id,
            day,
            HourlyCount.method,
            HourlyCount.kind,
            func.sum(HourlyCount.count),
            func.sum(HourlyCount.face_offered),
        )
        .where(*conditions)
        .group_by(HourlyCount.site_id, day, HourlyCount.method, HourlyCount.kind)
    )


def bucket_time(value: Any) -> datetime:
    """A bucket value from :func:`utc_bucket` or :func:`utc_day` as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    assert isinstance(value, datetime)
    return _utc(value)


# Events arriving this long after their hour was counted are left to the next run.
ROLLUP_MARGIN = timedelta(minutes=2)
HOUR = timedelta(hours=1)


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    """The first whole hour at or after ``moment``."""
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def rolled_up_hours(session: Db) -> tuple[datetime, datetime] | None:
    """The UTC hours [start, end) whose counts the fleet job keeps in ``hourly_count``.

    From the first whole hour of the oldest raw event (a purge removed nothing at or
    after it, so those counts match the raw events) to the end of the hour of the job's
    last run (less a margin for events still in flight then), which that run recounted:
    the current hour's figures lag the job by up to one run. None before the job ran.
    """
    last = session.scalar(select(func.max(FleetJobRun.started_at)))
    oldest = session.scalar(select(func.min(DeviceEvent.occurred_at)))
    if last is None or oldest is None or not hours_counted(session):
        return None
    oldest = _utc(oldest)
    start = _ceil_hour(oldest)
    end = _floor_hour(_utc(last) - ROLLUP_MARGIN) + HOUR
    return (start, end) if start < end else None


def hours_counted(session: Db) -> bool:
    """Whether the fleet job has counted any hour (none before its first full count)."""
    return session.scalar(select(select(HourlyCount.hour).exists())) is True


def split_at_rolled_hours(
    session: Db, start: datetime, end: datetime
) -> tuple[tuple[datetime, datetime] | None, list[tuple[datetime, datetime]]]:
    """[start, end) as the part read from hourly counts and the parts read from raw events."""
    window = rolled_up_hours(session)
    if window is None:
        return None, [(start, end)]
    # Whole hours only: a partial hour at either end is read from raw events.
    low = max(_ceil_hour(start), window[0])
    high = min(_floor_hour(end), window[1])
    if low >= high:
        return None, [(start, end)]
    raw = [(a, b) for a, b in ((start, low), (high, end)) if a < b]
    return (low, high), raw


def whole_days(
    hours: tuple[datetime, datetime],
) -> tuple[tuple[date, date] | None, list[tuple[datetime, datetime]]]:
    """Counted hours [start, end) as the UTC days they cover whole, [first, after last),
    read from daily counts, and the hours left at either end, read from hourly counts."""
    start, end = hours
    first = _ceil_day(start)
    last = _floor_day(end)
    if first >= last:
        return None, [hours]
    edges = [(a, b) for a, b in ((start, first), (last, end)) if a < b]
    return (first.date(), last.date()), edges


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil_day(moment: datetime) -> datetime:
    """The first midnight at or after ``moment``."""
    floor = _floor_day(moment)
    return floor if floor == moment else floor + timedelta(days=1)


def daily_counts(
    session: Db, *, first_day: date, last_day: date, site_id: int | None = None
) -> Counter[tuple[date, str, str]]:
    """Event counts by (day, method, kind) over both the aggregates and the raw events."""
    counts: Counter[tuple[date, str, str]] = Counter()
    by_site = daily_counts_by_site(session, first_day=first_day, last_day=last_day, site_id=site_id)
    for (_site, day, method, kind), total in by_site.items():
        counts[(day, method, kind)] += total
    return counts


def daily_counts_by_site(
    session: Db, *, first_day: date, last_day: date, site_id: int | None = None
) -> Counter[tuple[int, date, str, str]]:
    """Event counts by (site id, day, method, kind): the daily aggregates (purged days),
    the fleet job's hourly counts where complete, raw events for the rest; a fixed number
    of queries whatever the number of sites."""
    counts: Counter[tuple[int, date, str, str]] = Counter()
    agg = (
        select(
            Dispenser.site_id,
            DailyAggregate.day,
            DailyAggregate.method,
            DailyAggregate.kind,
            func.sum(DailyAggregate.count),
        )
        .join(Dispenser, Dispenser.id == DailyAggregate.dispenser_id)
        .where(DailyAggregate.day >= first_day, DailyAggregate.day <= last_day)
        .group_by(Dispenser.site_id, DailyAggregate.day, DailyAggregate.method, DailyAggregate.kind)
    )
    if site_id is not None:
        agg = agg.where(Dispenser.site_id == site_id)
    for site, day, method, kind, total in session.execute(agg):
        counts[(site, day, method, kind)] += int(total)
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)
    rolled, raw_parts = split_at_rolled_hours(session, start, end)
    days, hour_parts = whole_days(rolled) if rolled is not None else (None, [])
    if days is not None:
        by_day = select(
            DailyCount.site_id, DailyCount.day, DailyCount.method, DailyCount.kind, DailyCount.count
        ).where(DailyCount.day >= days[0], DailyCount.day < days[1])
        if site_id is not None:
            by_day = by_day.where(DailyCount.site_id == site_id)
        for site, day_value, method, kind, total in session.execute(by_day):
            counts[(site, day_value, method, kind)] += int(total)
    for hours_start, hours_end in hour_parts:
        rows = hourly_sums_by_day(
            session,
            HourlyCount.hour >= hours_start,
            HourlyCount.hour < hours_end,
            *([HourlyCount.site_id == site_id] if site_id is not None else []),
        )
        for site, moment, method, kind, total, _offered in session.execute(rows):
            counts[(site, bucket_time(moment).date(), method, kind)] += int(total)
    for part_start, part_end in raw_parts:
        _add_raw_days(session, counts, part_start, part_end, site_id)
    return counts


def _add_raw_days(
    session: Db,
    counts: Counter[tuple[int, date, str, str]],
    start: datetime,
    end: datetime,
    site_id: int | None,
) -> None:
    bucket = utc_bucket(session, DeviceEvent.occurred_at, "day").label("bucket")
    raw = (
        select(
            Dispenser.site_id,
            bucket,
            DeviceEvent.method,
            DeviceEvent.kind,
            func.count(DeviceEvent.id),
        )
        .join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id)
        .where(DeviceEvent.occurred_at >= start, DeviceEvent.occurred_at < end)
        .group_by(Dispenser.site_id, bucket, DeviceEvent.method, DeviceEvent.kind)
    )
    if site_id is not None:
        raw = raw.where(Dispenser.site_id == site_id)
    for site, moment, method, kind, total in session.execute(raw):
        counts[(site, bucket_time(moment).date(), method, kind)] += int(total)


def hourly_counts(
    session: Db, *, start: datetime, end: datetime, site_id: int | None = None
) -> Counter[tuple[datetime, str, str]]:
    """Event counts by (UTC hour, method, kind) between ``start`` and ``end``: the fleet
    job's hourly counts where complete, raw events for the rest."""
    counts: Counter[tuple[datetime, str, str]] = Counter()
    rolled, raw_parts = split_at_rolled_hours(session, start, end)
    if rolled is not None:
        rows = (
            select(
                HourlyCount.hour, HourlyCount.method, HourlyCount.kind, func.sum(HourlyCount.count)
            )
            .where(HourlyCount.hour >= rolled[0], HourlyCount.hour < rolled[1])
            .group_by(HourlyCount.hour, HourlyCount.method, HourlyCount.kind)
        )
        if site_id is not None:
            rows = rows.where(HourlyCount.site_id == site_id)
        for moment, method, kind, total in session.execute(rows):
            counts[(bucket_time(moment), method, kind)] += int(total)
    for part_start, part_end in raw_parts:
        for moment, method, kind, total in _raw_counts(
            session, "hour", part_start, part_end, site_id
        ):
            counts[(moment, method, kind)] += total
    return counts


def _raw_counts(
    session: Db, unit: str, start: datetime, end: datetime, site_id: int | None
) -> list[tuple[datetime, str, str, int]]:
    bucket = utc_bucket(session, DeviceEvent.occurred_at, unit).label("bucket")
    query = select(bucket, DeviceEvent.method, DeviceEvent.kind, func.count(DeviceEvent.id)).where(
        DeviceEvent.occurred_at >= start, DeviceEvent.occurred_at < end
    )
    if site_id is not None:
        query = query.join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id).where(
            Dispenser.site_id == site_id
        )
    rows = session.execute(query.group_by(bucket, DeviceEvent.method, DeviceEvent.kind)).all()
    return [(bucket_time(b), method, kind, int(n)) for b, method, kind, n in rows]


def aggregate_rows(session: Db, *, day: date) -> list[dict[str, Any]]:
    """One day's counts per dispenser, for the anonymised export (aggregates + raw events)."""
    rows: Counter[tuple[str, str, str, str]] = Counter()
    agg = (
        select(
            Dispenser.public_id,
            Dispenser.site_id,
            DailyAggregate.method,
            DailyAggregate.kind,
            DailyAggregate.count,
        )
        .join(Dispenser, Dispenser.id == DailyAggregate.dispenser_id)
        .where(DailyAggregate.day == day)
    )
    for public_id, site_id, method, kind, count in session.execute(agg):
        rows[(public_id, str(site_id), method, kind)] += int(count)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    raw = (
        select(
            Dispenser.public_id,
            Dispenser.site_id,
            DeviceEvent.method,
            DeviceEvent.kind,
            func.count(DeviceEvent.id),
        )
        .join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id)
        .where(
            DeviceEvent.occurred_at >= start, DeviceEvent.occurred_at < start + timedelta(days=1)
        )
        .group_by(Dispenser.public_id, Dispenser.site_id, DeviceEvent.method, DeviceEvent.kind)
    )
    for public_id, site_id, method, kind, count in session.execute(raw):
        rows[(public_id, str(site_id), method, kind)] += int(count)
    return [
        {
            "day": day.isoformat(),
            "site_id": int(s),
            "dispenser": p,
            "method": m,
            "kind": k,
            "count": n,
        }
        for (p, s, m, k), n in sorted(rows.items())
    ]
