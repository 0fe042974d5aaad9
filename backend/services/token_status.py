"""What became of one issued token, for the phone that holds it: one indexed row read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from backend.models import AccessToken, Dispenser
from backend.services.sql import Db

# The states a phone can show for its token.
LIVE = "live"
GIVEN = "given"
EXPIRED = "expired"
MAYBE_USED = "maybe_used"


@dataclass(frozen=True)
class TokenOutcome:
    """The token's state and, while the device may still accept it, until when."""

    state: str
    redeemed_at: datetime | None = None
    method: str | None = None
    # Until this moment a dispenser may still accept the token (expiry + clock tolerance).
    accepted_until: datetime | None = None
    # Why a dispenser refused it, if one did (for example "wrong_dispenser").
    refusal: str | None = None


def token_outcome(
    session: Db,
    dispenser: Dispenser,
    ref: str,
    *,
    offline: bool,
    clock_skew: timedelta,
    now: datetime,
) -> TokenOutcome:
    """The state of the token ``ref`` issued for ``dispenser``, as of ``now``.

    Redeemed (by QR, typed code, at any path) wins over everything. An expired token of a
    dispenser the backend has not heard from lately "may have been used": its QR path works
    offline and its report has not arrived. A token the database no longer holds (purged)
    counts as expired.
    """
    row = session.execute(
        select(
            AccessToken.redeemed_at, AccessToken.method, AccessToken.expires_at, AccessToken.refusal
        ).where(AccessToken.token_ref == ref, AccessToken.dispenser_id == dispenser.id)
    ).first()
    if row is None:
        return TokenOutcome(EXPIRED)
    if row.redeemed_at is not None:
        return TokenOutcome(GIVEN, redeemed_at=row.redeemed_at, method=row.method)
    accepted_until = row.expires_at + clock_skew
    if now < row.expires_at:
        return TokenOutcome(LIVE, accepted_until=accepted_until, refusal=row.refusal)
    return TokenOutcome(MAYBE_USED if offline else EXPIRED, accepted_until=accepted_until)
