"""The visitor's last token, kept on the phone only, in a signed HttpOnly cookie.

So a reload, or a second scan of the sticker, shows the same live code instead of
asking for a new one (which the quota would refuse). The database never holds it.
The cookie's path is the dispenser's page, so it is sent nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE_NAME = "fr_code"
# Kept this long past expiry, so the page can say "expired" rather than start over.
LINGER_SECONDS = 600


@dataclass(frozen=True)
class HeldToken:
    """A token the phone holds: QR text, typed code, expiry."""

    public_id: str
    token: str
    code: str
    expires_at: datetime

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until expiry, never negative."""
        return max(0, int((self.expires_at - now).total_seconds()))

    def is_live(self, now: datetime) -> bool:
        """True while the token can still be used."""
        return now < self.expires_at

    def seconds_until_renewable(self, now: datetime, clock_skew: timedelta) -> int:
        """Seconds until a new code may replace this one (0 when it may now).

        A device accepts a QR token until ``expires_at + clock_skew``, so only then does the
        quota let an unused token's portion move to a new one.
        """
        wait = (self.expires_at + clock_skew - now).total_seconds()
        return max(0, math.ceil(wait))


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="fairroll-held-token")


def cookie_path(public_id: str) -> str:
    """The cookie is sent only to this dispenser's pages."""
    return f"/d/{public_id}"


def save_token(response: Response, held: HeldToken, *, now: datetime) -> None:
    """Store ``held`` on the phone until a while after it expires."""
    payload = [held.public_id, held.token, held.code, int(held.expires_at.timestamp())]
    response.set_cookie(
        COOKIE_NAME,
        _serializer().dumps(payload),
        max_age=held.seconds_left(now) + LINGER_SECONDS,
        path=cookie_path(held.public_id),
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["FAIRROLL_COOKIE_SECURE"]),
    )


def load_token(public_id: str) -> HeldToken | None:
    """The token held for ``public_id``, or None if absent, tampered or for another one."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        payload = _serializer().loads(raw)
    except BadSignature:
        return None
    if not (isinstance(payload, list) and len(payload) == 4 and payload[0] == public_id):
        return None
    _, token, code, expires = payload
    if not (isinstance(token, str) and isinstance(code, str) and isinstance(expires, int)):
        return None
    return HeldToken(public_id, token, code, datetime.fromtimestamp(expires, tz=UTC))
