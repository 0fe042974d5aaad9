"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
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
    """Readiness: the database answers now. 503 when it does not (for operators and
    monitoring; the load balancers ask /startedz)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return json_error(503, "database_unavailable", "The database is not reachable.")
    return jsonify(status="ok", database="ok")


REACHED_DATABASE = "fairroll.reached_database"


@bp.get("/startedz")
def startedz() -> Response:
    """The load balancers' check: 503 until this process has reached the database once,
    then 200 without asking it again.

    A new task that cannot reach the database (a wrong setting in a new version) never
    gets traffic, and the deployment rolls back. A database outage or failover, though,
    takes no task out: all would fail their checks together, be replaced together, and
    come back after the database did, each a task start late; staying, they answer 503
    meanwhile and serve again the moment it is back.
    """
    if not current_app.extensions.get(REACHED_DATABASE):
        answer = readyz()
        if answer.status_code != 200:
            return answer
        current_app.extensions[REACHED_DATABASE] = True
    return jsonify(status="ok")
