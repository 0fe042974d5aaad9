"""The OpenAPI 3 description of every JSON endpoint (checked against the routes by a test)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from backend.api import bp

_ERROR = {"$ref": "#/components/responses/Error"}
_LIMITED = {"$ref": "#/components/responses/Limited"}
_DEVICE_AUTH: list[dict[str, list[str]]] = [{"deviceKey": []}]

# Answers every operation can give, whatever it does: malformed input (400: bad JSON,
# nesting deeper than 32, control characters), and the database or the whole service
# being unavailable or shedding load for a moment (503 with Retry-After).
_ALWAYS = {"400": _ERROR, "503": _LIMITED}
# ... and every operation with a body: larger than the limit, declared or chunked (413).
_WITH_BODY = {**_ALWAYS, "413": _ERROR}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(required: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
PUBLIC_ID = {"type": "string", "pattern": "^[a-z2-7]{10}$"}
TYPED_CODE = {"type": "string", "pattern": "^[0-9]{6,16}$"}
ENROLLMENT_CODE = {"type": "string", "pattern": "^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$"}
SOFTWARE_VERSION = {"type": "string", "maxLength": 40}
_EVENT = _obj(
    ("event_id", "kind", "method", "occurred_at"),
    event_id={"type": "string", "pattern": "^[0-9a-f]{32}$"},
    kind={"type": "string", "enum": ["dispense", "refuse"]},
    method={"type": "string", "enum": ["qr", "code", "face", "voucher", "unrestricted"]},
    occurred_at=_TIME,
    reason={"type": "string", "pattern": "^[a-z_]{1,32}$"},
    token_ref=_HEX64,
    face_offered={"type": "boolean"},
)
_EVENT["additionalProperties"] = False

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "fairroll API",
        "version": "1",
        "description": "Visitor tokens and the dispenser device API. See docs/device-api.md.",
    },
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"deviceKey": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Error": _json(
                _obj(("error",), error=_obj(("code", "message"), code=_STR, message=_STR)),
                "An error, with a code and a message",
            ),
            "Limited": {
                **_json(
                    _obj(("error",), error=_obj(("code", "message"), code=_STR, message=_STR)),
                    "Not now: try again after Retry-After seconds",
                ),
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            },
        },
        "schemas": {
            "Config": _obj(
                ("dispenser_id", "enabled", "token_keys"),
                dispenser_id=PUBLIC_ID,
                enabled={"type": "boolean"},
                site=_obj(name=_STR, timezone=_STR),
                policy={"type": "object"},
                token_keys={"type": "array", "items": _obj(kid=_STR, alg=_STR, key=_STR)},
                presence={"type": "object", "nullable": True},
                visitor_url=_STR,
                heartbeat_seconds={"type": "integer"},
                config_refresh_seconds={"type": "integer"},
            )
        },
    },
    "paths": {
        "/dispensers/{public_id}/tokens": {
            "post": {
                "summary": "Issue a token for this dispenser to the visitor (sets a cookie)",
                "parameters": [
                    {"name": "public_id", "in": "path", "required": True, "schema": PUBLIC_ID}
                ],
                "requestBody": _body(
                    _obj(presence={"type": "string", "pattern": "^[0-9]{6}$"}), required=False
                ),
                "responses": {
                    "201": _json(
                        _obj(
                            ("token", "code", "expires_at"),
                            token=_STR,
                            code=TYPED_CODE,
                            expires_at=_TIME,
                        ),
                        "A new token",
                    ),
                    "403": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "429": _LIMITED,
                    **_WITH_BODY,
                },
            }
        },
        "/device/enroll": {
            "post": {
                "summary": "Claim a dispenser with a one-time enrollment code",
                "requestBody": _body(
                    _obj(
                        ("enrollment_code",),
                        enrollment_code=ENROLLMENT_CODE,
                        software_version=SOFTWARE_VERSION,
                    )
                ),
                "responses": {
                    "201": _json(
                        _obj(
                            ("dispenser_id", "device_key", "config"),
                            dispenser_id=PUBLIC_ID,
                            device_key=_STR,
                            config={"$ref": "#/components/schemas/Config"},
                        ),
                        "Enrolled",
                    ),
                    "404": _ERROR,
                    **_WITH_BODY,
                },
            }
        },
        "/device/config": {
            "get": {
                "summary": "The device's configuration (ETag / If-None-Match)",
                "security": _DEVICE_AUTH,
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Config"}, "The config"),
                    "304": {"description": "Unchanged since the ETag sent"},
                    "401": _ERROR,
                    **_ALWAYS,
                },
            }
        },
        "/device/heartbeat": {
            "post": {
                "summary": "Report paper level and status",
                "security": _DEVICE_AUTH,
                "requestBody": _body(
                    _obj(
                        ("paper_level", "status"),
                        paper_level={"type": "integer", "minimum": 0, "maximum": 100},
                        status={
                            "type": "string",
                            "enum": ["ok", "low", "empty", "jam", "door_open", "camera_fault"],
                        },
                        software_version=SOFTWARE_VERSION,
                    )
                ),
                "responses": {
                    "200": _json(
                        _obj(("server_time", "config_etag"), server_time=_TIME, config_etag=_STR),
                        "Recorded",
                    ),
                    "401": _ERROR,
                    **_WITH_BODY,
                },
            }
        },
        "/device/events": {
            "post": {
                "summary": "Upload a batch of events (idempotent by event id)",
                "security": _DEVICE_AUTH,
                "requestBody": _body(
                    _obj(("events",), events={"type": "array", "maxItems": 500, "items": _EVENT})
                ),
                "responses": {
                    "200": _json(
                        _obj(
                            ("accepted", "duplicates"),
                            accepted={"type": "integer", "minimum": 0},
                            duplicates={"type": "integer", "minimum": 0},
                        ),
                        "Stored",
                    ),
                    "401": _ERROR,
                    **_WITH_BODY,
                },
            }
        },
        "/device/codes/verify": {
            "post": {
                "summary": "Redeem a typed code at this dispenser",
                "security": _DEVICE_AUTH,
                "requestBody": _body(_obj(("code",), code=TYPED_CODE)),
                "responses": {
                    "200": _json(
                        _obj(
                            ("kind",),
                            kind={"type": "string", "enum": ["token", "voucher"]},
                            token_ref=_HEX64,
                            expires_at=_TIME,
                            voucher_ref=_STR,
                        ),
                        "Redeemed: a token (token_ref, expires_at) or a voucher (voucher_ref)",
                    ),
                    "401": _ERROR,
                    "422": _ERROR,
                    "429": _LIMITED,
                    **_WITH_BODY,
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "The OpenAPI document"}, **_ALWAYS},
            }
        },
    },
}


@bp.get("/openapi.json")
def openapi() -> Response:
    """Serve the OpenAPI document."""
    return jsonify(SPEC)
