"""Refill forecasts from recent paper-level readings, and the maintainer's refill list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import joinedload

from backend.models import Dispenser, PaperForecast, PaperReading
from backend.services.sql import Db

LOOKBACK = timedelta(hours=24)
# Less consumption history than this gives no forecast: too noisy to act on.
MIN_SPAN = timedelta(minutes=2)


@dataclass(frozen=True)
class Forecast:
    """Consumption rate (percentage points an hour) and when paper gets low and runs out."""

    level: int | None
    rate_per_hour: float | None
    low_at: datetime | None
    empty_at: datetime | None


def forecast_from_readings(
    readings: Sequence[tuple[datetime, int]], level: int | None, *, now: datetime, low_percent: int
) -> Forecast:
    """Forecast from (time, level) readings in time order, ending with the current ``level``.

    Only readings since the last refill (a rise in level) count. The rate is the drop since
    then divided by the time up to ``now`` (a level that did not change did not drop).
    """
    if level is None or not readings:
        return Forecast(level, None, None, None)
    start = 0
    for index in range(1, len(readings)):
        if readings[index][1] > readings[index - 1][1]:
            start = index
    first_at, first_level = readings[start]
    span = now - first_at
    if span < MIN_SPAN:
        return Forecast(level, None, None, None)
    rate = (first_level - level) / (span.total_seconds() / 3600)
    return forecast_from_rate(level, rate, now=now, low_percent=low_percent)


def forecast_from_rate(
    level: int | None, rate: float | None, *, now: datetime, low_percent: int
) -> Forecast:
    """Forecast from a consumption rate (percentage points an hour), e.g. the stored one."""
    if level is None or rate is None:
        return Forecast(level, None, None, None)
    if rate <= 0:
        return Forecast(level, 0.0, None, None)
    empty_at = now + timedelta(hours=level / rate)
    low_at = now if level <= low_percent else now + timedelta(hours=(level - low_percent) / rate)
    return Forecast(level, rate, low_at, empty_at)


def record_paper_reading(session: Db, dispenser: Dispenser, level: int, *, now: datetime) -> bool:
    """Store the level if it differs from the last reading; True if stored."""
    last = session.scalar(
        select(PaperReading.level)
        .where(PaperReading.dispenser_id == dispenser.id)
        .order_by(PaperReading.read_at.desc(), PaperReading.id.desc())
        .limit(1)
    )
    if last == level:
        return False
    session.add(PaperReading(dispenser_id=dispenser.id, level=level, read_at=now))
    session.flush()
    return True


def forecast_dispenser(
    session: Db, dispenser: Dispenser, *, now: datetime, low_percent: int
) -> Forecast:
    """The refill forecast of one dispenser from its readings of the last 24 hours."""
    rows = session.execute(
        select(PaperReading.read_at, PaperReading.level)
        .where(PaperReading.dispenser_id == dispenser.id, PaperReading.read_at >= now - LOOKBACK)
        .order_by(PaperReading.read_at, PaperReading.id)
    ).all()
    readings = [(row.read_at, row.level) for row in rows]
    return forecast_from_readings(readings, dispenser.paper_level, now=now, low_percent=low_percent)


@dataclass(frozen=True)
class RefillItem:
    """One stop on a maintainer's round."""

    dispenser: Dispenser
    forecast: Forecast
    reason: str


@dataclass(frozen=True)
class RefillPage:
    """One page of the refill list, and how many stops there are in all."""

    items: list[RefillItem]
    total: int
    page: int
    per_page: int


def refill_list(
    session: Db,
    *,
    now: datetime,
    low_percent: int,
    horizon: timedelta,
    site_id: int | None = None,
    page: int = 1,
    per_page: int = 100,
) -> RefillPage:
    """Dispensers to visit within ``horizon``: empty, jammed, low, or forecast to get low.

    Filtered, ordered and paginated in SQL on the forecasts the fleet job keeps
    (backend.services.fleet_check.recompute_forecasts): most urgent first.
    """
    level = Dispenser.paper_level
    rate = PaperForecast.rate_per_hour
    now_low = or_(Dispenser.status.in_(("jam", "empty", "low")), level <= low_percent)
    hours = horizon.total_seconds() / 3600
    soon = and_(level.is_not(None), rate > 0, (level - low_percent) <= rate * hours)
    condition = and_(Dispenser.enabled, or_(now_low, soon))
    if site_id is not None:
        condition = and_(condition, Dispenser.site_id == site_id)
    total = session.scalar(
        select(func.count())
        .select_from(Dispenser)
        .outerjoin(PaperForecast, PaperForecast.dispenser_id == Dispenser.id)
        .where(condition)
    )
    urgency = case((now_low, 0.0), else_=(level - low_percent) / rate)
    rows = session.execute(
        select(Dispenser, rate)
        .outerjoin(PaperForecast, PaperForecast.dispenser_id == Dispenser.id)
        .options(joinedload(Dispenser.site, innerjoin=True))
        .where(condition)
        .order_by(urgency, func.coalesce(level, 0), Dispenser.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = []
    for dispenser, stored_rate in rows:
        forecast = forecast_from_rate(
            dispenser.paper_level, stored_rate, now=now, low_percent=low_percent
        )
        reason = _refill_reason(
            dispenser, forecast, now=now, low_percent=low_percent, horizon=horizon
        )
        items.append(RefillItem(dispenser, forecast, reason))
    return RefillPage(items, int(total or 0), page, per_page)


def stored_forecasts(
    session: Db, dispensers: Sequence[Dispenser], *, now: datetime, low_percent: int
) -> dict[int, Forecast]:
    """Forecasts of some dispensers from the rates the fleet job keeps (one query)."""
    ids = [d.id for d in dispensers]
    rates: dict[int, float | None] = {}
    if ids:
        rows = session.execute(
            select(PaperForecast.dispenser_id, PaperForecast.rate_per_hour).where(
                PaperForecast.dispenser_id.in_(ids)
            )
        )
        rates = {dispenser_id: rate for dispenser_id, rate in rows}
    return {
        d.id: forecast_from_rate(d.paper_level, rates.get(d.id), now=now, low_percent=low_percent)
        for d in dispensers
    }


def _refill_reason(
    dispenser: Dispenser, forecast: Forecast, *, now: datetime, low_percent: int, horizon: timedelta
) -> str:
    level = dispenser.paper_level
    if dispenser.status == "jam":
        return "jammed"
    if dispenser.status == "empty" or level == 0:
        return "empty"
    if dispenser.status == "low" or (level is not None and level <= low_percent):
        return "low"
    if forecast.low_at is not None and forecast.low_at <= now + horizon:
        return f"low by {forecast.low_at:%H:%M} UTC"
    return ""
