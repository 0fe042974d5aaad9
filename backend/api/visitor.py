"""Visitor endpoint: get a token for a dispenser."""

from __future__ import annotations

from flask import Response, jsonify

from backend.api import bp
from backend.api.common import json_body
from backend.errors import DispenserNotFound, InvalidInput
from backend.extensions import db
from backend.services.sites import find_dispenser_to_issue
from backend.services.sql import commit
from backend.visitor_cookie import set_visitor_cookie, visitor_id_for_request
from backend.wiring import issue_visitor_token
from protocol.clock import utcnow
from protocol.ids import is_dispenser_public_id


@bp.post("/dispensers/<public_id>/tokens")
def create_token(public_id: str) -> tuple[Response, int]:
    """Issue a token for this dispenser to the visitor (quota permitting)."""
    if not is_dispenser_public_id(public_id):
        raise DispenserNotFound("no dispenser has that id")
    body = json_body(optional=True)
    presence = body.get("presence")
    if presence is not None and not isinstance(presence, str):
        raise InvalidInput("presence must be the code text shown on the dispenser")
    visitor_id, is_new = visitor_id_for_request()
    # On PostgreSQL, after the load, one statement mints the token (or refuses, writing
    # nothing), each its own transaction; a refusal's rules one at a time take one.
    dispenser = find_dispenser_to_issue(db.session, public_id)
    issued = issue_visitor_token(dispenser, visitor_id=visitor_id, presence=presence, now=utcnow())
    commit(db.session)
    response = jsonify(
        token=issued.token, code=issued.code, expires_at=issued.expires_at.isoformat()
    )
    response.headers["Cache-Control"] = "no-store"
    if is_new:
        set_visitor_cookie(response, visitor_id)
    return response, 201
