"""What the scheduled fleet job keeps: its runs, and each dispenser's paper forecast."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
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
    # True when offline alerts were held back because the backend's own intake dropped.
    offline_held: Mapped[bool] = mapped_column(default=False)
    raised: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)


class PaperForecast(Base):
    """A dispenser's paper consumption rate, recomputed by the fleet job from its readings."""

    __tablename__ = "paper_forecast"

    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), primary_key=True)
    # Percentage points an hour since the last refill; NULL while there is too little history.
    rate_per_hour: Mapped[float | None] = mapped_column(default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
