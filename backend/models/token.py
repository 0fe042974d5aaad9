"""Access tokens and the per-visitor quota records behind them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class AccessToken(Base):
    """An issued token. Only hashes are kept: nothing here can be replayed."""

    __tablename__ = "access_token"
    __table_args__ = (Index("ix_access_token_dispenser_code", "dispenser_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # protocol.token.token_ref(token id): hex SHA-256 of the random token id.
    token_ref: Mapped[str] = mapped_column(String(64), unique=True)
    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(8))
    # HMAC of the typed code, keyed by the app secret and bound to the dispenser.
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    method: Mapped[str | None] = mapped_column(String(8), default=None)
    # The last reason a dispenser gave for refusing this (unused) token, for its phone.
    refusal: Mapped[str | None] = mapped_column(String(32), default=None)


class QuotaUsage(Base):
    """Portions one (anonymous) visitor took at one site on one local day.

    ``visitor_hash`` is an HMAC of the cookie's random id under that day's secret;
    the secret is deleted after the day, so rows of different days cannot be linked.
    """

    __tablename__ = "quota_usage"
    __table_args__ = (UniqueConstraint("site_id", "visitor_hash", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    visitor_hash: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, index=True)
    portions: Mapped[int] = mapped_column(default=0)
    last_portion_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The token that used the last portion: if it expires unused, the portion is renewable.
    last_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("access_token.id", ondelete="SET NULL"), default=None
    )


class DailySecret(Base):
    """The random key for one day's visitor hashes; purged the day after."""

    __tablename__ = "daily_secret"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CodeAttemptThrottle(Base):
    """The wrong-code budget of one dispenser, as a GCRA "theoretical arrival time".

    Each wrong code moves ``tat_ms`` (epoch milliseconds) one interval on; a code is
    checked only while ``tat_ms`` is less than a burst of intervals ahead of now.
    """

    __tablename__ = "code_attempt_throttle"

    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), primary_key=True)
    tat_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class CodeSourceBudget(Base):
    """The same budget for one client address across all dispensers, for one UTC day.

    ``source_hash`` is an HMAC of the address under that day's secret (purged after the
    day), so no address is stored and days cannot be linked.
    """

    __tablename__ = "code_source_budget"

    source_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    tat_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class LiveTokenSlot(Base):
    """One of a dispenser's slots for live tokens: a token holds one until it expires.

    A dispenser has at most FAIRROLL_LIVE_TOKEN_CAP slots (rows made on first need), so
    no more tokens than that are ever live for it: minting claims a free slot with one
    conditional UPDATE, or is refused. The claim also stores the token's typed-code hash,
    unique among the dispenser's slots, so two live tokens never share a code.
    """

    __tablename__ = "live_token_slot"
    # No two slots of a dispenser hold one typed code: so no two live tokens share one.
    __table_args__ = (UniqueConstraint("dispenser_id", "code_hash"),)

    dispenser_id: Mapped[int] = mapped_column(ForeignKey("dispenser.id"), primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The typed-code hash of the token that holds (or last held) the slot.
    code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
