"""What the scheduled fleet job keeps: its runs, paper forecasts, hourly and daily event
counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class FleetJobRun(Base):
    """One run of the fleet job: when, how long, what it saw and changed."""

    __tablename__ = "fleet_job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    seconds: Mapped[float] = mapped_column(default=0.0)
    # Enabled dispensers heard within the last day, and those heard within the last beat.
    known: Mapped[int] = mapped_column(default=0)
    heard: Mapped[int] = mapped_column(default=0)
    # True when offline alerts were held back: the backend's own intake dropped, or it
    # was blind lately (backend.services.fleet_check.recently_blind).
    offline_held: Mapped[bool] = mapped_column(default=False)
    raised: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    # Whether the run's figures reached CloudWatch: None when it published nothing
    # (metrics off), False when the publication failed. The next run's Dispenses window
    # starts at the last run that is not False (backend.fleet_job), so a failed
    # window's dispenses are published late rather than never.
    published: Mapped[bool | None] = mapped_column(default=None)


class PaperForecast(Base):
    """A dispenser's paper consumption rate, recomputed by the fleet job from its readings."""

    __tablename__ = "paper_forecast"

    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), primary_key=True)
    # Percentage points an hour since the last refill; NULL while there is too little history.
    rate_per_hour: Mapped[float | None] = mapped_column(default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HourlyCount(Base):
    """Events of one site, UTC hour, method and kind, counted by the fleet job.

    The charts read these instead of counting raw events (millions a day in a city);
    backend.services.aggregates knows which hours are complete.
    """

    __tablename__ = "hourly_count"

    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), primary_key=True)
    # Indexed too: the fleet-wide charts read a window of hours across every site.
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    # Of ``count``, the events at which a face scan was offered (DeviceEvent.face_offered).
    face_offered: Mapped[int] = mapped_column(default=0, server_default="0")


class DailyCount(Base):
    """Events of one site, UTC day, method and kind: that day's hourly counts summed by
    the fleet job, so a chart over weeks reads a row a day and a site, not one an hour
    (about 840,000 rows for a city's week). backend.services.aggregates reads them only
    for days whose every hour is counted.
    """

    __tablename__ = "daily_count"

    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    face_offered: Mapped[int] = mapped_column(default=0, server_default="0")
