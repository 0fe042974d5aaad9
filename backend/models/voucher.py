"""Printed single-use voucher codes for people without a smartphone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class VoucherBatch(Base):
    """One printed sheet of vouchers for a site."""

    __tablename__ = "voucher_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    size: Mapped[int] = mapped_column()
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Voucher(Base):
    """One voucher code, kept only as a keyed hash; used at most once, never linked to anyone."""

    __tablename__ = "voucher"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batch.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    # HMAC of the code under a key derived from the app secret, bound to the site.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # A random reference the device logs instead of the code.
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    used_dispenser_id: Mapped[int | None] = mapped_column(
        ForeignKey("dispenser.id", ondelete="SET NULL"), default=None
    )
