"""A dispenser and the credentials that let its device talk to the backend."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, UTCDateTime

if TYPE_CHECKING:
    from backend.models.site import Site

# What a device may report in its heartbeat; "unknown" until the first one arrives.
DEVICE_STATUSES = ("ok", "low", "empty", "jam", "door_open", "camera_fault")
# Statuses in which the backend issues no token for the dispenser.
NON_DISPENSING_STATUSES = frozenset({"empty", "jam"})


class Dispenser(Base):
    """One paper dispenser, known to visitors by its public id."""

    __tablename__ = "dispenser"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(10), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    # An accessible stall: no rationing at this dispenser, whatever the site policy.
    unrestricted: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    paper_level: Mapped[int | None] = mapped_column(default=None)
    software_version: Mapped[str | None] = mapped_column(String(40), default=None)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Last issuance, for the site's minimum interval between portions at one dispenser.
    last_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Base32 TOTP secret for the rotating presence code shown on the dispenser's screen.
    presence_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship(back_populates="dispensers")


class DeviceCredential(Base):
    """A device key, stored only as its SHA-256 hash."""

    __tablename__ = "device_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class EnrollmentCode(Base):
    """A one-time, expiring code that lets a new device claim a dispenser."""

    __tablename__ = "enrollment_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
