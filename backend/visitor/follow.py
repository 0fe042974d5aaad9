"""The phone follows its token: what became of it, for the token screen and its poll.

The token screen (``backend/visitor/pages.py``) asks ``GET /d/<id>/token/status`` every
few seconds (visitor.js) while the code is live; the answer names the state ("live",
"given", "expired", "maybe_used") and, once the portion is spent, when the next one is
due. docs/visitor.md says why short polling was chosen.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext

from backend.extensions import db
from backend.models import Dispenser
from backend.services.availability import is_offline
from backend.services.quotas import seconds_until_next_portion
from backend.services.token_status import GIVEN, LIVE, MAYBE_USED, TokenOutcome, token_outcome
from backend.visitor.token_cookie import HeldToken
from backend.visitor.web import dispenser_name, duration, is_another_day, local_time
from backend.visitor_cookie import read_visitor_id
from backend.wiring import token_settings
from protocol.token import TokenError, parse_token, token_ref

# Seconds between polls the server asks for, by state; 0 means "stop asking".
POLL_LIVE = 2
POLL_ACCEPTED = 5


def held_ref(held: HeldToken) -> str | None:
    """The database reference of the held token (its cookie is signed, so no verify)."""
    try:
        claims, _, _ = parse_token(held.token)
    except TokenError:
        return None
    return token_ref(claims.token_id)


def outcome_of(dispenser: Dispenser, held: HeldToken, now: datetime) -> TokenOutcome:
    """What became of the phone's token: one indexed read of its row."""
    ref = held_ref(held)
    if ref is None:
        return TokenOutcome("expired")
    return token_outcome(
        db.session,
        dispenser,
        ref,
        offline=is_offline(
            dispenser,
            now=now,
            heartbeat=timedelta(seconds=current_app.config["FAIRROLL_HEARTBEAT_SECONDS"]),
        ),
        clock_skew=token_settings().clock_skew,
        now=now,
    )


def next_portion(dispenser: Dispenser, now: datetime) -> dict[str, Any]:
    """When this visitor's next portion is due: seconds, and a sentence to show."""
    site = dispenser.site
    visitor_id = read_visitor_id()
    wait = None
    if visitor_id and not (site.unrestricted or dispenser.unrestricted):
        wait = seconds_until_next_portion(db.session, site, visitor_id, now=now)
    if not wait or wait <= 1:
        return {"next_in": 0, "next_text": ""}
    at = now + timedelta(seconds=wait)
    if is_another_day(site, at, now):
        text = gettext("Your next portion: tomorrow from %(time)s.", time=local_time(site, at))
    else:
        text = gettext(
            "Your next portion: from %(time)s (%(wait)s).",
            time=local_time(site, at),
            wait=duration(wait, direction=True),
        )
    return {"next_in": wait, "next_text": text}


def refusal_text(reason: str | None, place: str) -> str:
    """What the phone says when a dispenser refused its still-live code."""
    if reason == "wrong_dispenser":
        return str(
            gettext(
                "A dispenser said this code is for another one. Show it to %(place)s, "
                "the dispenser it was made for.",
                place=place,
            )
        )
    if reason in ("expired", "not_yet_valid"):
        return str(
            gettext(
                "A dispenser could not accept this code at that moment (its clock may be "
                "off). Try again; when the time runs out, get a new code."
            )
        )
    if reason == "already_used":
        return str(gettext("A dispenser says this code was already used."))
    return ""


def follow_context(dispenser: Dispenser, held: HeldToken, now: datetime) -> dict[str, Any]:
    """The token's state, when to ask again, a dispenser's refusal, the next portion."""
    outcome = outcome_of(dispenser, held, now)
    context: dict[str, Any] = {
        "state": outcome.state,
        "poll": 0,
        "next_in": 0,
        "next_text": "",
        "refusal_text": "",
    }
    if outcome.state == LIVE:
        context["poll"] = POLL_LIVE
        context["refusal_text"] = refusal_text(outcome.refusal, dispenser_name(dispenser))
    elif outcome.accepted_until is not None and now < outcome.accepted_until:
        # Expired but still accepted by the device: a last-second dispense may yet arrive.
        context["poll"] = POLL_ACCEPTED
    if outcome.state in (GIVEN, MAYBE_USED):
        context.update(next_portion(dispenser, now))
    return context
