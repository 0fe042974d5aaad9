"""The JSON error responses domain errors, HTTP errors and database outages become."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from backend.errors import DomainError

log = logging.getLogger(__name__)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON shape of every error: {"error": {"code", "message", ...}}."""
    return {"error": {"code": code, "message": message, **extra}}


def describe_database_error(error: DBAPIError) -> str:
    """The error's kind and SQLSTATE only: a driver's message can quote row values
    (PostgreSQL's "Failing row contains ..."), so it never reaches a log."""
    sqlstate = getattr(error.orig, "sqlstate", None) or "?"
    return f"{type(error).__name__} ({type(error.orig).__name__}, SQLSTATE {sqlstate})"


def json_error(status: int, code: str, message: str, **extra: Any) -> Response:
    """Build a JSON error response."""
    response = jsonify(error_body(code, message, **extra))
    response.status_code = status
    return response


def wants_json() -> bool:
    """Whether this request should get JSON (API paths, or a client that prefers it)."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def register_error_handlers(app: Flask) -> None:
    """Turn domain errors, HTTP errors and database outages into clear answers."""
    from backend.extensions import db
    from backend.signing import KeyStoreError

    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        db.session.rollback()
        response = json_error(error.status, error.code, error.message, **error.extra)
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, error.retry_after))
        return response

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response | HTTPException:
        if not wants_json():
            return error
        code = (error.name or "error").lower().replace(" ", "_")
        response = json_error(error.code or 500, code, error.description or "")
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(KeyStoreError)
    def _keys(error: KeyStoreError) -> Response:
        # Misconfiguration, not the client's fault: say so without details of the keys.
        log.error("signing keys unavailable: %s", error)
        db.session.rollback()
        return json_error(
            503,
            "signing_keys_unavailable",
            "Tokens cannot be issued now: the signing keys are not available.",
        )

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError) -> Response:
        db.session.rollback()
        return json_error(409, "conflict", "That conflicts with data already stored.")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database(error: OperationalError | InterfaceError) -> Response:
        # The database went away or refused us: nothing was stored; the client may retry.
        # Never the statement, its parameters or the driver's message (it may quote values).
        log.error("database unavailable: %s", describe_database_error(error))
        db.session.rollback()
        response = json_error(
            503, "database_unavailable", "The database is not reachable now; try again shortly."
        )
        response.headers["Retry-After"] = "5"
        return response
