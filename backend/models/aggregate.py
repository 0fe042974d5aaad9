"""Daily counts kept after the raw events are purged."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class DailyAggregate(Base):
    """How many events of one kind and method one dispenser had on one UTC day."""

    __tablename__ = "daily_aggregate"
    __table_args__ = (UniqueConstraint("dispenser_id", "day", "method", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    method: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)
    # Of ``count``, the events at which a face scan was offered (DeviceEvent.face_offered).
    face_offered: Mapped[int] = mapped_column(default=0, server_default="0")
