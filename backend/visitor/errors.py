"""Refusals on visitor pages, as pages a person can act on (never JSON, never a trace)."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import g
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import InterfaceError, OperationalError

from backend.errors import (
    DispenserBusy,
    DispenserNotFound,
    DispenserUnavailable,
    DomainError,
    NotFound,
    PresenceRequired,
    QuotaExhausted,
)
from backend.extensions import db
from backend.services.sites import find_dispenser_to_issue
from backend.visitor import bp
from backend.visitor.pages import dispenser_context
from backend.visitor.web import duration, is_another_day, local_time, page
from protocol.clock import utcnow

log = logging.getLogger(__name__)


def _with_retry_after(result: tuple[str, int], seconds: int | None) -> ResponseReturnValue:
    body, status = result
    if seconds is None:
        return body, status
    return body, status, {"Retry-After": str(max(1, seconds))}


@bp.errorhandler(DomainError)
def refused(error: DomainError) -> ResponseReturnValue:
    """Render the page for a rule that said no."""
    db.session.rollback()
    loaded = g.get("visitor_dispenser")
    if isinstance(error, NotFound) or loaded is None:
        status = error.status if not isinstance(error, NotFound) else 404
        return page("visitor/not_found.html", status=status)
    dispenser = loaded
    if isinstance(error, DispenserUnavailable):
        # As it is now: the rule may have read a newer state than the request's first load
        # (token issue reads the dispenser again after a refused one-statement mint), and
        # the page's wording and alternatives must match the refusal. If the database
        # fails here, the page says what the first load knew.
        try:
            dispenser = find_dispenser_to_issue(db.session, loaded.public_id)
        except DispenserNotFound:
            return page("visitor/not_found.html", status=404)
        except (OperationalError, InterfaceError):
            db.session.rollback()
    now = utcnow()
    context = dispenser_context(dispenser, now)
    if isinstance(error, QuotaExhausted):
        wait = error.retry_after or 1
        # The moment the rule computed, not now + wait: the wait was counted from the
        # request's own (whole-second) clock, so adding it to this later one could name
        # the next minute.
        next_at = error.available_at or now + timedelta(seconds=wait)
        result = page(
            "visitor/quota.html",
            status=429,
            next_time=local_time(dispenser.site, next_at),
            next_is_tomorrow=is_another_day(dispenser.site, next_at, now),
            wait=duration(wait, direction=True),
            **context,
        )
        return _with_retry_after(result, wait)
    if isinstance(error, DispenserBusy):
        wait = error.retry_after or 1
        result = page(
            "visitor/busy.html", status=429, wait=duration(wait, direction=True), **context
        )
        return _with_retry_after(result, wait)
    if isinstance(error, PresenceRequired):
        return page("visitor/presence.html", status=403, **context)
    if isinstance(error, DispenserUnavailable):
        return page("visitor/unavailable.html", status=503, **context)
    return page("visitor/problem.html", status=error.status, **context)


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def database_unreachable(error: OperationalError | InterfaceError) -> ResponseReturnValue:
    """The database went away: nothing was stored; say so as a page, not JSON."""
    # The driver's own message only (never the statement or its parameters).
    log.error("database error: %s: %s", type(error.orig).__name__, error.orig)
    db.session.rollback()
    return _with_retry_after(page("visitor/problem.html", status=503, unavailable=True), 5)
