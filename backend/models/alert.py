"""Alerts about dispensers, and the paper-level readings behind refill forecasts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class Alert(Base):
    """A condition at a dispenser, raised once and resolved automatically.

    ``is_open`` is True while the alert is open and NULL once resolved: the unique
    constraint over it allows one open alert per dispenser and kind (NULLs never clash),
    so raising is a single INSERT ... ON CONFLICT DO NOTHING, race-free.
    """

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("dispenser_id", "kind", "is_open"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    is_open: Mapped[bool | None] = mapped_column(default=True)
    detail: Mapped[str] = mapped_column(String(200), default="")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PaperReading(Base):
    """A dispenser's paper level when it changed (purged with the raw data)."""

    __tablename__ = "paper_reading"
    __table_args__ = (Index("ix_paper_reading_dispenser_at", "dispenser_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"))
    level: Mapped[int] = mapped_column()
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
