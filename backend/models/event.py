"""Events reported by devices: one row per dispense or refusal, idempotent by event id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class DeviceEvent(Base):
    """A dispense or refusal that happened at a device (raw; purged after retention).

    The document it is stored from, and the values of ``kind`` and ``method``, are
    defined in protocol/events.py.
    """

    __tablename__ = "device_event"
    __table_args__ = (UniqueConstraint("dispenser_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"))
    event_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    token_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    # Whether the visitor could have chosen a face scan at that moment (the dispenser's
    # report, else the site's setting when the event arrived). Stored, so the opt-out
    # share of past days never changes when a site turns face mode on or off.
    face_offered: Mapped[bool] = mapped_column(default=False, server_default=false())
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Indexed: the fleet job finds the hours to recount from what arrived since its last run.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
