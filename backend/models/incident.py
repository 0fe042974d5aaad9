"""Incidents (what people are paged about) and maintenance windows (when they are not)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class Incident(Base):
    """One kind of trouble at one site, however many of its dispensers it touches.

    Opened when the site's first dispenser gets an open alert of the kind, resolved when
    its last one clears. ``is_open`` is True while open and NULL afterwards, so the
    unique constraint allows one open incident per site and kind (as for alerts).
    """

    __tablename__ = "incident"
    __table_args__ = (UniqueConstraint("site_id", "kind", "is_open"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    is_open: Mapped[bool | None] = mapped_column(default=True)
    dispensers: Mapped[int] = mapped_column(default=0)  # open alerts at the last check
    peak: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_notified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class MaintenanceWindow(Base):
    """A time when incidents of one site (or, without a site, the whole fleet) page nobody."""

    __tablename__ = "maintenance_window"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_maintenance_window_ends_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"), default=None)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
