"""Refill forecasts from recent paper-level readings, and the maintainer's refill list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from backend.models import Dispenser, PaperReading
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


def forecasts_for(
    session: Db, dispensers: Sequence[Dispenser], *, now: datetime, low_percent: int
) -> dict[int, Forecast]:
    """Forecasts of many dispensers with one query for all their readings."""
    readings: dict[int, list[tuple[datetime, int]]] = {d.id: [] for d in dispensers}
    if readings:
        rows = session.execute(
            select(PaperReading.dispenser_id, PaperReading.read_at, PaperReading.level)
            .where(
                PaperReading.dispenser_id.in_(list(readings)),
                PaperReading.read_at >= now - LOOKBACK,
            )
            .order_by(PaperReading.dispenser_id, PaperReading.read_at, PaperReading.id)
        )
        for dispenser_id, read_at, level in rows:
            readings[dispenser_id].append((read_at, level))
    return {
        d.id: forecast_from_readings(
            readings[d.id], d.paper_level, now=now, low_percent=low_percent
        )
        for d in dispensers
    }


@dataclass(frozen=True)
class RefillItem:
    """One stop on a maintainer's round."""

    dispenser: Dispenser
    forecast: Forecast
    reason: str


def refill_list(
    session: Db, *, now: datetime, low_percent: int, horizon: timedelta, site_id: int | None = None
) -> list[RefillItem]:
    """Dispensers to visit within ``horizon``: empty, jammed, low, or forecast to get low."""
    query = select(Dispenser).where(Dispenser.enabled).order_by(Dispenser.site_id, Dispenser.id)
    if site_id is not None:
        query = query.where(Dispenser.site_id == site_id)
    items: list[RefillItem] = []
    dispensers = session.scalars(query).all()
    forecasts = forecasts_for(session, dispensers, now=now, low_percent=low_percent)
    for dispenser in dispensers:
        forecast = forecasts[dispenser.id]
        reason = _refill_reason(
            dispenser, forecast, now=now, low_percent=low_percent, horizon=horizon
        )
        if reason:
            items.append(RefillItem(dispenser, forecast, reason))
    far = now + timedelta(days=3650)
    items.sort(key=lambda item: (item.forecast.low_at or far, item.dispenser.paper_level or 0))
    return items


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
