"""The dispenser page a sticker's QR code opens, and the token screen behind it."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

from flask import Response, current_app, g, make_response, redirect, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response as WerkzeugResponse

from backend.errors import DispenserNotFound
from backend.extensions import db
from backend.models import Dispenser
from backend.services.availability import alternative_dispensers, dispenser_availability
from backend.services.sites import find_dispenser, find_dispenser_to_issue
from backend.services.token_status import GIVEN, LIVE
from backend.visitor import bp
from backend.visitor.follow import follow_context, outcome_of
from backend.visitor.qr import qr_svg
from backend.visitor.token_cookie import HeldToken, load_token, save_token
from backend.visitor.web import csrf_ok, dispenser_name, duration, local_time, page
from backend.visitor_cookie import set_visitor_cookie, visitor_id_for_request
from backend.wiring import issue_visitor_token, token_settings
from protocol.clock import utcnow
from protocol.ids import is_dispenser_public_id

_PRESENCE_CODE = re.compile(r"^[0-9]{6,10}$")

PageResult = tuple[str, int] | WerkzeugResponse


def heartbeat() -> timedelta:
    """The devices' heartbeat interval, from which "offline" is judged."""
    return timedelta(seconds=current_app.config["FAIRROLL_HEARTBEAT_SECONDS"])


def load_dispenser(public_id: str, *, to_issue: bool = False) -> Dispenser:
    """The dispenser named in the URL; remembered for the error pages. ``to_issue``: as
    token issue loads it (``find_dispenser_to_issue``), for issuing a token."""
    if not is_dispenser_public_id(public_id):
        raise DispenserNotFound("no dispenser has that id")
    find = find_dispenser_to_issue if to_issue else find_dispenser
    dispenser = find(db.session, public_id)
    g.visitor_dispenser = dispenser
    return dispenser


def presence_from(value: str | None) -> str:
    """The dispenser screen's rotating code if it looks like one, else empty."""
    value = (value or "").strip()
    return value if _PRESENCE_CODE.fullmatch(value) else ""


def dispenser_context(dispenser: Dispenser, now: datetime) -> dict[str, Any]:
    """What every dispenser page shows: where you are, its state, the alternatives."""
    availability = dispenser_availability(dispenser, now=now, heartbeat=heartbeat())
    alternatives = []
    if availability.offline or not availability.can_dispense:
        alternatives = [
            dispenser_name(d)
            for d in alternative_dispensers(db.session, dispenser, now=now, heartbeat=heartbeat())
        ]
    site = dispenser.site
    return {
        "dispenser": dispenser,
        "site": site,
        "place": dispenser_name(dispenser),
        "availability": availability,
        "alternatives": alternatives,
        "unlimited": site.unrestricted or dispenser.unrestricted,
        "window": duration(site.window_seconds),
        "retention_days": current_app.config["FAIRROLL_RETENTION_DAYS"],
        "token_life": duration(current_app.config["FAIRROLL_TOKEN_TTL_SECONDS"]),
    }


def _token_page_url(public_id: str) -> str:
    return url_for("visitor.token", public_id=public_id)


@bp.get("/d/<public_id>")
def landing(public_id: str) -> PageResult:
    """One screen: where you are, what happens, what is kept, and "Get paper"."""
    now = utcnow()
    dispenser = load_dispenser(public_id)
    held = load_token(public_id)
    if held is not None and held.is_live(now):
        # A second scan or a reload: show the code the phone already has.
        return redirect(_token_page_url(public_id), 303)
    context = dispenser_context(dispenser, now)
    if not context["availability"].can_dispense:
        return page("visitor/unavailable.html", status=503, **context)
    presence = presence_from(request.args.get("p"))
    return page("visitor/landing.html", presence=presence, **context)


@bp.post("/d/<public_id>/token")
def issue(public_id: str) -> PageResult:
    """Issue a code (quota permitting) and send the phone to the token screen."""
    now = utcnow()
    dispenser = load_dispenser(public_id, to_issue=True)
    presence = presence_from(request.form.get("p"))
    if not csrf_ok():
        notice = gettext("That took a while, so the page was refreshed. Please tap again.")
        context = dispenser_context(dispenser, now)
        return page("visitor/landing.html", status=400, presence=presence, notice=notice, **context)
    held = load_token(public_id)
    if (
        held is not None
        and held.seconds_until_renewable(now, token_settings().clock_skew)
        and outcome_of(dispenser, held, now).state != GIVEN
    ):
        # Still live, or just expired but still accepted by the device: the quota would
        # refuse a new code yet, so show the held one (with "new code in N s"). A spent
        # code is never shown again: asking anew meets the quota's refusal at once.
        return redirect(_token_page_url(public_id), 303)
    visitor_id, is_new = visitor_id_for_request()
    issued = issue_visitor_token(
        dispenser, visitor_id=visitor_id, presence=presence or None, now=now
    )
    db.session.commit()
    # Post/redirect/get: a reload shows the code again instead of posting twice.
    response: Response = make_response(redirect(_token_page_url(public_id), 303))
    held = HeldToken(public_id, issued.token, issued.code, issued.expires_at)
    save_token(response, held, now=now)
    if is_new:
        set_visitor_cookie(response, visitor_id)
    return response


def grouped_code(code: str) -> str:
    """Digits in groups of three, easier to read and type: "123 456"."""
    return " ".join(code[i : i + 3] for i in range(0, len(code), 3))


@bp.get("/d/<public_id>/token")
def token(public_id: str) -> PageResult:
    """The token screen: QR, typed code, countdown; or "expired" with a new-code action."""
    now = utcnow()
    dispenser = load_dispenser(public_id)
    held = load_token(public_id)
    if held is None:
        return redirect(url_for("visitor.landing", public_id=public_id), 303)
    context = dispenser_context(dispenser, now)
    follow = follow_context(dispenser, held, now)
    live = follow["state"] == LIVE
    qr = None
    if live:
        qr = qr_svg(
            held.token,
            label=gettext(
                "QR code for the dispenser's camera. If it cannot be read, type the code %(code)s.",
                code=" ".join(held.code),
            ),
        )
    return page(
        "visitor/token.html",
        held=held,
        live=live,
        follow=follow,
        qr=qr,
        code_groups=grouped_code(held.code) if live else "",
        code_spoken=" ".join(held.code) if live else "",
        seconds_left=held.seconds_left(now),
        renew_after=held.seconds_until_renewable(now, token_settings().clock_skew),
        valid_until=local_time(dispenser.site, held.expires_at),
        **context,
    )


@bp.get("/d/<public_id>/token/status")
def token_status(public_id: str) -> Response:
    """The phone's poll: its token's state as a small JSON object (no code, no token)."""
    now = utcnow()
    dispenser = load_dispenser(public_id)
    held = load_token(public_id)
    if held is None:
        body: dict[str, Any] = {
            "state": "none",
            "poll": 0,
            "next_in": 0,
            "next_text": "",
            "refusal_text": "",
        }
    else:
        body = follow_context(dispenser, held, now)
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    etag = hashlib.sha256(raw).hexdigest()[:16]
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(raw, mimetype="application/json")
    response.set_etag(etag)
    # Private to this phone (its cookie decides the answer) and revalidated on every poll;
    # the body never holds the code or the token.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Cookie"
    return response
