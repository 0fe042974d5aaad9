"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.extensions import db
from backend.http_errors import json_error

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. Touches nothing else."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: the database answers. 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return json_error(503, "database_unavailable", "The database is not reachable.")
    return jsonify(status="ok", database="ok")
