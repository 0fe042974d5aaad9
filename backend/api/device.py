"""Device endpoints (docs/device-api.md): enroll, config, heartbeat, events, typed codes."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from backend.alerting import conditions_before, on_heartbeat
from backend.api import bp
from backend.api.common import json_body
from backend.errors import CodeInvalid, InvalidInput
from backend.extensions import db
from backend.models import Dispenser
from backend.notify import send_all
from backend.services.codes import verify_typed_code
from backend.services.devices import (
    Reading,
    authenticate_device,
    check_key_form,
    config_etag,
    device_config,
    enroll_device,
    record_heartbeat,
)
from backend.services.events import parse_batch, record_events
from backend.services.sql import commit
from backend.signing import key_ring
from backend.wiring import code_key, public_base_url
from protocol.clock import utcnow
from protocol.ids import dispenser_id_to_bytes


def _bearer_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def _device() -> Dispenser:
    return authenticate_device(db.session, _bearer_key())


def _config_for(dispenser: Dispenser) -> dict[str, object]:
    config = current_app.config
    return device_config(
        dispenser,
        token_keys=key_ring(current_app).token_key_documents(
            dispenser_id_to_bytes(dispenser.public_id)
        ),
        visitor_url=f"{public_base_url()}/d/{dispenser.public_id}",
        heartbeat_seconds=config["FAIRROLL_HEARTBEAT_SECONDS"],
        config_refresh_seconds=config["FAIRROLL_CONFIG_REFRESH_SECONDS"],
    )


@bp.post("/device/enroll")
def enroll() -> tuple[Response, int]:
    """Claim a dispenser with a one-time enrollment code; returns the device key once."""
    body = json_body()
    code = body.get("enrollment_code")
    if not isinstance(code, str) or not 4 <= len(code) <= 64:
        raise InvalidInput("enrollment_code must be the code printed for this dispenser")
    version = body.get("software_version")
    if version is not None and (not isinstance(version, str) or len(version) > 40):
        raise InvalidInput("software_version must be text of at most 40 characters")
    enrollment = enroll_device(db.session, code, now=utcnow())
    if version:
        enrollment.dispenser.software_version = version
    document = _config_for(enrollment.dispenser)
    db.session.commit()
    response = jsonify(
        dispenser_id=enrollment.dispenser.public_id,
        device_key=enrollment.device_key,
        config=document,
    )
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.get("/device/config")
def config() -> Response:
    """The device's configuration, with an ETag for cheap polling."""
    document = _config_for(_device())
    etag = config_etag(document)
    if etag in request.headers.get("If-None-Match", ""):
        response = Response(status=304)
    else:
        response = jsonify(document)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.post("/device/heartbeat")
def heartbeat() -> Response:
    """Record paper level and status; tell the device the time and its config's ETag."""
    key = check_key_form(_bearer_key())
    try:
        reading = Reading.from_body(json_body())
    except InvalidInput:
        _device()  # an unknown key is answered 401 before a bad body
        raise
    # On PostgreSQL the heartbeat is one statement, its own transaction; the alert writes
    # it may cause (rarely) commit after it, in the request's transaction. If they fail
    # after the heartbeat committed, the fleet job's next run settles the alerts.
    now = utcnow()
    beat = record_heartbeat(db.session, key, reading, now=now)
    before = conditions_before(current_app, beat.before, now=now)
    changes = on_heartbeat(current_app, beat.dispenser, before, now=now)
    etag = config_etag(_config_for(beat.dispenser))
    commit(db.session)
    send_all(current_app, changes)
    return jsonify(server_time=now.isoformat(), config_etag=etag)


@bp.post("/device/events")
def events() -> Response:
    """Store a batch of events; event ids already stored are counted as duplicates."""
    dispenser = _device()
    now = utcnow()
    batch = parse_batch(json_body(), now=now)
    result = record_events(db.session, dispenser, batch, now=now)
    db.session.commit()
    return jsonify(accepted=result.accepted, duplicates=result.duplicates)


@bp.post("/device/codes/verify")
def verify_code() -> Response:
    """Redeem a typed code for this dispenser, atomically, behind the attempt throttle."""
    # On PostgreSQL, after the lookup, one statement does it all (verify_typed_code),
    # each its own transaction; a voucher's steps (redeem, give back) take the request's.
    dispenser = _device()
    code = json_body().get("code")
    result = verify_typed_code(
        db.session,
        dispenser,
        code,
        code_key=code_key(),
        now=utcnow(),
        source=request.remote_addr or "?",
    )
    commit(db.session)  # a wrong code is counted even though the answer is an error
    if result.kind is None:
        raise CodeInvalid("no live code like that at this dispenser")
    if result.kind == "voucher":
        return jsonify(kind="voucher", voucher_ref=result.ref)
    assert result.expires_at is not None
    return jsonify(kind=result.kind, token_ref=result.ref, expires_at=result.expires_at.isoformat())
