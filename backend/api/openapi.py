"""The OpenAPI 3 description of every JSON endpoint (checked against the routes by a test)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from backend.api import bp

_ERROR = {"$ref": "#/components/responses/Error"}
_DEVICE_AUTH: list[dict[str, list[str]]] = [{"deviceKey": []}]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}

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
                _obj(error=_obj(code=_STR, message=_STR)), "An error, with a code and a message"
            )
        },
        "schemas": {
            "Config": _obj(
                dispenser_id=_STR,
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
                    {"name": "public_id", "in": "path", "required": True, "schema": _STR}
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _obj(presence=_STR)}},
                },
                "responses": {
                    "201": _json(_obj(token=_STR, code=_STR, expires_at=_TIME), "A new token"),
                    "403": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "429": _ERROR,
                },
            }
        },
        "/device/enroll": {
            "post": {
                "summary": "Claim a dispenser with a one-time enrollment code",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _obj(enrollment_code=_STR, software_version=_STR)
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        _obj(
                            dispenser_id=_STR,
                            device_key=_STR,
                            config={"$ref": "#/components/schemas/Config"},
                        ),
                        "Enrolled",
                    ),
                    "400": _ERROR,
                    "404": _ERROR,
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
                },
            }
        },
        "/device/heartbeat": {
            "post": {
                "summary": "Report paper level and status",
                "security": _DEVICE_AUTH,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _obj(
                                paper_level={"type": "integer", "minimum": 0, "maximum": 100},
                                status={
                                    "type": "string",
                                    "enum": [
                                        "ok",
                                        "low",
                                        "empty",
                                        "jam",
                                        "door_open",
                                        "camera_fault",
                                    ],
                                },
                                software_version=_STR,
                            )
                        }
                    },
                },
                "responses": {
                    "200": _json(_obj(server_time=_TIME, config_etag=_STR), "Recorded"),
                    "400": _ERROR,
                    "401": _ERROR,
                },
            }
        },
        "/device/events": {
            "post": {
                "summary": "Upload a batch of events (idempotent by event id)",
                "security": _DEVICE_AUTH,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _obj(
                                events={
                                    "type": "array",
                                    "maxItems": 500,
                                    "items": _obj(
                                        event_id=_STR,
                                        kind=_STR,
                                        method=_STR,
                                        occurred_at=_TIME,
                                        reason=_STR,
                                        token_ref=_STR,
                                        face_offered={"type": "boolean"},
                                    ),
                                }
                            )
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        _obj(accepted={"type": "integer"}, duplicates={"type": "integer"}),
                        "Stored",
                    ),
                    "400": _ERROR,
                    "401": _ERROR,
                },
            }
        },
        "/device/codes/verify": {
            "post": {
                "summary": "Redeem a typed code at this dispenser",
                "security": _DEVICE_AUTH,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _obj(code=_STR)}},
                },
                "responses": {
                    "200": _json(
                        _obj(
                            kind={"type": "string", "enum": ["token", "voucher"]},
                            token_ref=_STR,
                            expires_at=_TIME,
                            voucher_ref=_STR,
                        ),
                        "Redeemed: a token (token_ref, expires_at) or a voucher (voucher_ref)",
                    ),
                    "400": _ERROR,
                    "401": _ERROR,
                    "422": _ERROR,
                    "429": _ERROR,
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "The OpenAPI document"}},
            }
        },
    },
}


@bp.get("/openapi.json")
def openapi() -> Response:
    """Serve the OpenAPI document."""
    return jsonify(SPEC)
