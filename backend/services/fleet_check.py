"""The fleet-wide work of the scheduled fleet job, each step one set-based statement.

Nothing here loops over dispensers or sites in Python: offline alerts are one
INSERT ... SELECT, readings one INSERT ... SELECT, forecasts one windowed upsert, the
figures one aggregate query. The cost is the database's, whatever the fleet's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select, text, true, update

from backend.models import (
    Alert,
    DailyCount,
    DeviceEvent,
    Dispenser,
    FleetJobRun,
    HourlyCount,
    PaperForecast,
    PaperReading,
    Site,
)
from backend.models.base import UTCDateTime
from backend.services.aggregates import bucket_time, hour_of, hourly_sums_by_day
from backend.services.alerts import AlertChange, AlertSettings, condition_filters
from backend.services.forecast import LOOKBACK, MIN_SPAN
from backend.services.sql import Db, insert_for, set_for_transaction

# Any fixed 64-bit number shared by every backend instance: the fleet job's lock.
FLEET_JOB_LOCK = 0x6661697272_6F6C6C
# Offline alerts are held when fewer than this share of the dispensers heard in the last
# day were heard within the last heartbeat interval (and the fleet is big enough to judge).
INTAKE_FLOOR = 0.5
INTAKE_MIN_FLEET = 20
KNOWN_WITHIN = timedelta(days=1)
# How long one run's statements, lock waits and pauses between statements may last, in
# milliseconds: a run stuck on any of them is ended by the server, which releases the
# lock with its transaction, instead of holding it (and so stopping every later run)
# until someone steps in. A first run after a deploy counts a week of events in ~25 s.
FLEET_JOB_LIMITS_MS = {
    "statement_timeout": 120_000,
    "lock_timeout": 10_000,
    "idle_in_transaction_session_timeout": 300_000,
}


def try_fleet_job_lock(session: Db) -> bool:
    """Take the fleet job's lock for this transaction, and bound the run (FLEET_JOB_LIMITS_MS);
    False if another run holds it.

    PostgreSQL: a transaction-level advisory lock, released by the commit or rollback,
    so a crashed run never leaves it behind. SQLite serves one process: always True.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FLEET_JOB_LOCK})
    if taken:
        for name, milliseconds in FLEET_JOB_LIMITS_MS.items():
            set_for_transaction(session, name, milliseconds)
    return bool(taken)


# A full count (the first run, or after a migration emptied the counts) reads every
# retained event in one statement: about 13 s for a city's week (12 million) on the
# development machine, so it may take longer than the steady runs' limit on a slower
# database; failing there would roll back and start over every minute.
FULL_COUNT_STATEMENT_MS = 900_000


def allow_full_count(session: Db) -> None:
    """Give this run's statements FULL_COUNT_STATEMENT_MS (PostgreSQL; this transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        set_for_transaction(session, "statement_timeout", FULL_COUNT_STATEMENT_MS)


@dataclass(frozen=True)
class Intake:
    """How many dispensers the backend heard lately, against those it knows to be alive."""

    known: int
    heard: int

    def dropped(self) -> bool:
        """True when the backend's own intake fell far below normal (it was behind)."""
        return self.known >= INTAKE_MIN_FLEET and self.heard < self.known * INTAKE_FLOOR


def fleet_intake(session: Db, *, now: datetime, beat: timedelta) -> Intake:
    """Enabled dispensers heard within the last day, and within the last ``beat``."""
    seen = Dispenser.last_heartbeat_at
    row = session.execute(
        select(
            func.count().filter(seen >= now - KNOWN_WITHIN),
            func.count().filter(seen >= now - beat),
        ).where(Dispenser.enabled)
    ).one()
    return Intake(known=int(row[0] or 0), heard=int(row[1] or 0))


# The job runs every minute; a longer gap between recorded runs (one run may be skipped
# while a slow one holds the lock) means the job, the database or the backend was down.
RUN_GAP = timedelta(minutes=3)


def recently_blind(session: Db, *, now: datetime, span: timedelta) -> bool:
    """Whether the backend may have missed heartbeats within the last ``span`` (an offline
    alert's silence plus a beat): a gap longer than RUN_GAP between the job's recorded runs
    there (counting from the last run before it, and up to now), or a run whose intake had
    dropped. A dispenser silent through such a time may only have gone unheard, or not
    have caught up yet (after an outage dispensers come back over a minute or more,
    backlog first): its offline alert waits until the backend has heard for a whole span.
    No run recorded before (the job's first ever) is no evidence of blindness."""
    start = now - span
    before = session.scalar(
        select(func.max(FleetJobRun.started_at)).where(FleetJobRun.started_at < start)
    )
    runs = session.execute(
        select(FleetJobRun.started_at, FleetJobRun.known, FleetJobRun.heard)
        .where(FleetJobRun.started_at >= start, FleetJobRun.started_at < now)
        .order_by(FleetJobRun.started_at)
    ).all()
    if any(Intake(known=run.known, heard=run.heard).dropped() for run in runs):
        return True
    moments = [run.started_at for run in runs] + [now]
    if before is not None:
        moments.insert(0, before)
    return any(later - earlier > RUN_GAP for earlier, later in pairwise(moments))


def _describe(session: Db, condition: Any, change: str, now: datetime) -> list[AlertChange]:
    """The alerts matching ``condition`` as notifier changes (one joined query)."""
    rows = session.execute(
        select(Alert.kind, Alert.detail, Dispenser.public_id, Dispenser.label, Site.name)
        .join(Dispenser, Dispenser.id == Alert.dispenser_id)
        .join(Site, Site.id == Dispenser.site_id)
        .where(condition)
        .order_by(Alert.id)
    ).all()
    return [
        AlertChange(change, kind, public_id, label, site, detail, now)
        for kind, detail, public_id, label, site in rows
    ]


def raise_offline_alerts(
    session: Db, settings: AlertSettings, *, now: datetime
) -> list[AlertChange]:
    """Open an offline alert for every enabled dispenser silent past the limit (one INSERT)."""
    minutes = int(settings.offline_after.total_seconds() // 60)
    stale = select(
        Dispenser.id,
        literal("offline"),
        true(),
        literal(f"no heartbeat for over {minutes} min"),
        literal(now, UTCDateTime),
    ).where(
        Dispenser.enabled,
        Dispenser.last_heartbeat_at.is_not(None),
        Dispenser.last_heartbeat_at < now - settings.offline_after,
    )
    columns = ["dispenser_id", "kind", "is_open", "detail", "raised_at"]
    raised = session.execute(
        insert_for(session, Alert)
        .from_select(columns, stale)
        .on_conflict_do_nothing(index_elements=["dispenser_id", "kind", "is_open"])
        .returning(Alert.id)
    ).all()
    if not raised:
        return []
    fresh = and_(Alert.kind == "offline", Alert.is_open.is_(True), Alert.raised_at == now)
    return _describe(session, fresh, "raised", now)


def resolve_ended_alerts(
    session: Db, settings: AlertSettings, *, now: datetime
) -> list[AlertChange]:
    """Resolve every open alert whose condition no longer holds (one UPDATE): a switched
    off dispenser's, an offline one of a dispenser heard again, a jam that was cleared.
    A heartbeat resolves its own at once; this catches any it left behind: its alert
    writes commit after the heartbeat itself (backend.api.device), so a failure between
    them leaves the alert for this."""
    filters = condition_filters(settings, now=now)
    holds = or_(
        *(
            and_(
                Alert.kind == kind,
                select(Dispenser.id).where(Dispenser.id == Alert.dispenser_id, rule).exists(),
            )
            for kind, rule in filters.items()
        )
    )
    ended = session.execute(
        update(Alert)
        .where(Alert.is_open.is_(True), Alert.kind.in_(list(filters)), ~holds)
        .values(is_open=None, resolved_at=now)
        .returning(Alert.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ended:
        return []
    ids = [row.id for row in ended]
    return _describe(session, Alert.id.in_(ids), "resolved", now)


def snapshot_paper_levels(session: Db, *, since: datetime) -> int:
    """Store each level reported since ``since`` that differs from the dispenser's last
    reading, timed at its heartbeat (one INSERT ... SELECT); return how many."""
    last = (
        select(PaperReading.level)
        .where(PaperReading.dispenser_id == Dispenser.id)
        .order_by(PaperReading.read_at.desc(), PaperReading.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    changed = select(Dispenser.id, Dispenser.paper_level, Dispenser.last_heartbeat_at).where(
        Dispenser.paper_level.is_not(None),
        Dispenser.last_heartbeat_at >= since,
        Dispenser.paper_level.is_distinct_from(last),
    )
    result = session.execute(
        insert_for(session, PaperReading)
        .from_select(["dispenser_id", "level", "read_at"], changed)
        .returning(PaperReading.id)
    ).all()
    return len(result)


def _epoch(session: Db, column: Any) -> Any:
    """Seconds since 1970 of a UTC timestamp column, on either database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0  # SQLite stores naive UTC text


def recompute_forecasts(session: Db, *, now: datetime, changed_since: datetime) -> int:
    """Recompute the consumption rate of every dispenser with a reading since
    ``changed_since`` (one windowed upsert); return how many were recomputed.

    The rate is the drop since the last refill (a rise in level) over the time from
    that refill's reading to ``now``, as :func:`backend.services.forecast.forecast_from_readings`.
    """
    reading = PaperReading
    fresh = select(reading.dispenser_id).where(reading.read_at >= changed_since)
    ordered = (
        select(
            reading.dispenser_id,
            reading.read_at,
            reading.level,
            func.lag(reading.level)
            .over(partition_by=reading.dispenser_id, order_by=(reading.read_at, reading.id))
            .label("prev"),
        )
        .where(reading.read_at >= now - LOOKBACK, reading.dispenser_id.in_(fresh))
        .cte("ordered")
    )
    starts = (
        select(
            ordered.c.dispenser_id,
            ordered.c.read_at,
            ordered.c.level,
            func.row_number()
            .over(partition_by=ordered.c.dispenser_id, order_by=ordered.c.read_at.desc())
            .label("n"),
        )
        .where(or_(ordered.c.prev.is_(None), ordered.c.level > ordered.c.prev))
        .cte("starts")
    )
    span = now.timestamp() - _epoch(session, starts.c.read_at)
    drop = starts.c.level - Dispenser.paper_level
    rate = case(
        (span < MIN_SPAN.total_seconds(), null()),
        (drop <= 0, 0.0),
        else_=drop * 3600.0 / span,
    )
    rows = (
        select(starts.c.dispenser_id, rate, literal(now, UTCDateTime))
        .join(Dispenser, Dispenser.id == starts.c.dispenser_id)
        .where(starts.c.n == 1, Dispenser.paper_level.is_not(None))
    )
    statement = insert_for(session, PaperForecast).from_select(
        ["dispenser_id", "rate_per_hour", "computed_at"], rows
    )
    result = session.execute(
        statement.on_conflict_do_update(
            index_elements=["dispenser_id"],
            set_={
                "rate_per_hour": statement.excluded.rate_per_hour,
                "computed_at": statement.excluded.computed_at,
            },
        ).returning(PaperForecast.dispenser_id)
    ).all()
    return len(result)


@dataclass(frozen=True)
class FleetFigures:
    """The small fixed set of fleet-wide figures the job publishes."""

    dispensers: int
    offline: int
    empty: int
    low_paper: int
    jammed: int
    open_alerts: int
    dispenses: dict[str, int]


# Dispenses are counted by when the backend received them, in [the previous run's start,
# this run's start), both moved back by this lag: an upload stamped just before a run but
# committed just after it is then counted by the next run, and none twice. (Counting by
# when they happened, over overlapping windows, counted some twice and late ones never.)
RECEIPT_LAG = timedelta(seconds=30)


def fleet_figures(
    session: Db, settings: AlertSettings, *, now: datetime, since: datetime
) -> FleetFigures:
    """Fleet-wide counts (three aggregate queries), and the dispenses received in
    [since, now), each bound moved back by RECEIPT_LAG, by method.

    A dispenser counts under each alert condition that holds for it (the rules of
    active_conditions, as SQL: condition_filters), so the figures match the alerts.
    """
    held = condition_filters(settings, now=now)
    row = session.execute(
        select(
            func.count().filter(Dispenser.enabled.is_(True)),
            *(func.count().filter(held[kind]) for kind in ("offline", "empty", "low_paper", "jam")),
        )
    ).one()
    open_alerts = session.scalar(select(func.count()).where(Alert.is_open.is_(True)))
    by_method = session.execute(
        select(DeviceEvent.method, func.count())
        .where(
            DeviceEvent.kind == "dispense",
            DeviceEvent.received_at >= since - RECEIPT_LAG,
            DeviceEvent.received_at < now - RECEIPT_LAG,
        )
        .group_by(DeviceEvent.method)
    ).all()
    return FleetFigures(
        dispensers=int(row[0] or 0),
        offline=int(row[1] or 0),
        empty=int(row[2] or 0),
        low_paper=int(row[3] or 0),
        jammed=int(row[4] or 0),
        open_alerts=int(open_alerts or 0),
        dispenses={method: int(n) for method, n in by_method},
    )


def previous_run_start(session: Db) -> datetime | None:
    """When the last recorded fleet job run started."""
    return session.scalar(select(func.max(FleetJobRun.started_at)))


def last_settled_run_start(session: Db) -> datetime | None:
    """When the last recorded run whose Dispenses need no sending again started: its
    publication succeeded (or is under way), or it published nothing (metrics off)."""
    return session.scalar(
        select(func.max(FleetJobRun.started_at)).where(
            or_(FleetJobRun.published.is_(None), FleetJobRun.published.is_(True))
        )
    )


def forget_old_runs(session: Db, *, before: datetime) -> None:
    """Delete run records older than ``before``."""
    session.execute(
        FleetJobRun.__table__.delete().where(FleetJobRun.started_at < before)  # type: ignore[attr-defined]
    )


def roll_up_hours(session: Db, *, received_since: datetime | None) -> int:
    """Recount, per site, method and kind, every UTC hour that received an event since
    ``received_since`` (all hours when None); return how many hours were recounted.

    Whole hours are recounted (an upsert of the exact count, never an increment), so a
    rerun or an overlap changes nothing. One query finds the hours, one upsert counts.
    """
    hour = hour_of(session, DeviceEvent.occurred_at)
    touched = select(hour).distinct()
    if received_since is not None:
        touched = touched.where(DeviceEvent.received_at >= received_since)
    hours = sorted(bucket_time(value) for value in session.scalars(touched))
    if not hours:
        return 0
    ranges = [
        and_(DeviceEvent.occurred_at >= h, DeviceEvent.occurred_at < h + timedelta(hours=1))
        for h in hours
    ]
    counted = (
        select(
            Dispenser.site_id,
            hour,
            DeviceEvent.method,
            DeviceEvent.kind,
            func.count(),
            func.count().filter(DeviceEvent.face_offered.is_(True)),
        )
        .join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id)
        .where(or_(*ranges) if received_since is not None else true())
        .group_by(Dispenser.site_id, hour, DeviceEvent.method, DeviceEvent.kind)
    )
    _store_counts(session, HourlyCount, "hour", counted)
    _roll_up_days(session, sorted({h.date() for h in hours}))
    return len(hours)


def _roll_up_days(session: Db, days: list[date]) -> None:
    """Recount ``days`` (UTC) in ``daily_count`` from their hourly counts: one upsert of
    the exact sums, so a rerun changes nothing."""
    ranges = [
        and_(HourlyCount.hour >= start, HourlyCount.hour < start + timedelta(days=1))
        for start in (datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days)
    ]
    _store_counts(session, DailyCount, "day", hourly_sums_by_day(session, or_(*ranges)))


def _store_counts(session: Db, model: Any, when: str, rows: Any) -> None:
    """Upsert ``rows`` (site, ``when``, method, kind, count, face offered) into ``model``'s
    table: the exact counts, never an increment."""
    keys = ["site_id", when, "method", "kind"]
    statement = insert_for(session, model).from_select([*keys, "count", "face_offered"], rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=keys,
            set_={
                "count": statement.excluded.count,
                "face_offered": statement.excluded.face_offered,
            },
        )
    )


def forget_old_hours(session: Db) -> None:
    """Delete hourly counts from a day before the oldest raw event and earlier: charts
    never read them (the daily aggregates hold those days)."""
    oldest = session.scalar(select(func.min(DeviceEvent.occurred_at)))
    if oldest is None:
        return
    table = HourlyCount.__table__
    session.execute(table.delete().where(HourlyCount.hour < oldest - timedelta(days=1)))  # type: ignore[attr-defined]
    days = DailyCount.__table__
    session.execute(days.delete().where(DailyCount.day < (oldest - timedelta(days=1)).date()))  # type: ignore[attr-defined]
