"""Metadata of token signing keys (the private keys live in the key store, never here)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class SigningKey(Base):
    """A public signing key with its role in the rotation."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(8), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="Ed25519")
    public_key: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
