"""Events reported by devices: one row per dispense or refusal, idempotent by event id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime

EVENT_KINDS = ("dispense", "refuse")
EVENT_METHODS = ("qr", "code", "face", "voucher", "unrestricted")


class DeviceEvent(Base):
    """A dispense or refusal that happened at a device (raw; purged after retention)."""

    __tablename__ = "device_event"
    __table_args__ = (UniqueConstraint("dispenser_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"))
    event_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    token_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Indexed: the fleet job finds the hours to recount from what arrived since its last run.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
