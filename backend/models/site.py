"""A site: one public toilet block with its rationing policy."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime

if TYPE_CHECKING:
    from backend.models.dispenser import Dispenser


class Site(Base):
    """A site and its quota policy; the window spans every dispenser of the site."""

    __tablename__ = "site"
    __table_args__ = (
        CheckConstraint("portion_cm > 0", name="portion_positive"),
        CheckConstraint("window_seconds >= 0", name="window_non_negative"),
        CheckConstraint("daily_cap > 0", name="daily_cap_positive"),
        CheckConstraint("min_interval_seconds >= 0", name="min_interval_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Whom visitors can contact about the service and their data (transparency page).
    contact: Mapped[str] = mapped_column(Text, default="")
    portion_cm: Mapped[int] = mapped_column(default=60)
    window_seconds: Mapped[int] = mapped_column(default=540)
    daily_cap: Mapped[int] = mapped_column(default=8)
    # services.sites.DEFAULT_MIN_INTERVAL_SECONDS (one portion per 20 s at one dispenser).
    min_interval_seconds: Mapped[int] = mapped_column(default=20)
    presence_required: Mapped[bool] = mapped_column(default=False)
    face_mode_allowed: Mapped[bool] = mapped_column(default=False)
    unrestricted: Mapped[bool] = mapped_column(default=False)
    # Paper used a day before rationing (metres), measured by the city: the charts' baseline.
    paper_baseline_m: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    dispensers: Mapped[list[Dispenser]] = relationship(back_populates="site")
