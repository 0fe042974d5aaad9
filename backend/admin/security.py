"""Operator sessions, roles, CSRF protection, login throttling and security headers."""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Request, Response, abort, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from backend.admin import bp
from backend.extensions import db
from backend.models import Operator

F = TypeVar("F", bound=Callable[..., Any])
# Pages reachable without a session.
PUBLIC_ENDPOINTS = {"admin.login", "admin.login_totp", "admin.static"}
# Login attempts one client address may make in the window (kept in memory, never stored).
ADDRESS_LIMIT = 20
ADDRESS_WINDOW = 300.0

log = logging.getLogger(__name__)
_CACHE_KEY = "fairroll.operator"


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed session cookie, which only the admin and the visitor pages use:
    a request that sends no session cookie (every device and API request) gets an empty
    session without the signer being built for it. The same sessions otherwise."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when there is no cookie to read (and a key to sign with)."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def csrf_token() -> str:
    """The session's CSRF token (made on first use), for every form."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def start_session(operator: Operator, now: datetime) -> None:
    """A fresh session for a fully authenticated operator (nothing kept from before)."""
    session.clear()
    session.permanent = True
    session["op"] = operator.id
    session["ver"] = operator.session_version
    session["auth_at"] = int(now.timestamp())
    csrf_token()


def current_operator() -> Operator | None:
    """The logged-in operator, or None when the session is missing, stale or revoked."""
    # Cached per request (not on g: an app context may outlive one request).
    if _CACHE_KEY in request.environ:
        cached: Operator | None = request.environ[_CACHE_KEY]
        return cached
    operator = None
    op_id = session.get("op")
    if isinstance(op_id, int):
        candidate = db.session.get(Operator, op_id)
        max_age = current_app.config["FAIRROLL_ADMIN_SESSION_HOURS"] * 3600
        fresh = time.time() - int(session.get("auth_at", 0)) < max_age
        if (
            candidate is not None
            and candidate.active
            and session.get("ver") == candidate.session_version
            and fresh
        ):
            operator = candidate
    request.environ[_CACHE_KEY] = operator
    return operator


def require_role(*roles: str) -> Callable[[F], F]:
    """Only operators with one of ``roles`` may use the view (403 otherwise)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            operator = current_operator()
            if operator is None or operator.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


admin_only = require_role("admin")


@bp.before_request
def _guard() -> Response | None:
    if request.method == "POST":
        given = request.form.get("csrf_token", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(given.encode(), str(expected).encode()):
            abort(400, description="The form expired or did not come from this site; reload it.")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_operator() is None:
        return redirect(url_for("admin.login"))  # type: ignore[return-value]
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    if not request.path.startswith("/admin"):
        return {}
    return {"csrf_token": csrf_token, "operator": current_operator()}


class AddressLimiter:
    """Sliding-window limit of login attempts per client address, in memory only."""

    def __init__(self, limit: int = ADDRESS_LIMIT, window: float = ADDRESS_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str, moment: float | None = None) -> bool:
        """Record an attempt from ``address``; False once it is over the limit."""
        moment = time.monotonic() if moment is None else moment
        with self._lock:
            hits = self._hits.setdefault(address, deque())
            while hits and hits[0] <= moment - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(moment)
            if len(self._hits) > 10_000:  # bound the memory under a spray of addresses
                self._hits = {a: h for a, h in self._hits.items() if h}
            return True


class RedisAddressLimiter:
    """The same limit, counted in Redis so that every backend instance shares it.

    A fixed window per address (INCR, then EXPIRE on the first hit): cruder than the
    sliding window, but one round trip, and an attacker gains at most one window's worth.
    If Redis cannot be reached the attempt is allowed and logged: the per-account lock
    in the database still holds, and a cache outage must not lock every operator out.
    """

    def __init__(
        self, client: Any, limit: int = ADDRESS_LIMIT, window: float = ADDRESS_WINDOW
    ) -> None:
        self.client = client
        self.limit = limit
        self.window = int(window)

    def allow(self, address: str, moment: float | None = None) -> bool:
        """Record an attempt from ``address``; False once it is over the limit."""
        import redis

        moment = time.time() if moment is None else moment
        key = f"fairroll:login:{address}:{int(moment) // self.window}"
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.window, nx=True)
            count = int(pipe.execute()[0])
        except redis.RedisError as exc:
            log.warning("login limiter: Redis unavailable (%s); allowing", type(exc).__name__)
            return True
        return count <= self.limit


def address_limiter() -> AddressLimiter | RedisAddressLimiter:
    """The app's login limiter: in Redis when FAIRROLL_REDIS_URL is set, else in memory."""
    limiter = current_app.extensions.get("fairroll.login_limiter")
    if limiter is None:
        url = current_app.config.get("FAIRROLL_REDIS_URL")
        if url:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
            limiter = RedisAddressLimiter(client)
        else:
            limiter = AddressLimiter()
        current_app.extensions["fairroll.login_limiter"] = limiter
    assert isinstance(limiter, AddressLimiter | RedisAddressLimiter)
    return limiter
