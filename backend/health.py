"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import cast

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.extensions import db
from backend.http_errors import json_error

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


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


class DatabaseProbe:
    """This process's view of the database for /startedz: a daemon thread asks it
    ``SELECT 1`` at once and then every ``every`` seconds, and keeps when it last
    answered, so a check never waits on the database longer than FIRST_ANSWER_WAIT (a
    connection attempt to a failed-over host can outlast the load balancer's 5 s check
    timeout, and would hold a request thread meanwhile)."""

    def __init__(self, app: Flask, *, every: float) -> None:
        self.app = app
        self.every = every
        self.last_answer: float | None = None
        self.answered = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._starting = threading.Lock()

    def ask(self) -> bool:
        """Ask the database now; True (and remembered) when it answers."""
        try:
            with self.app.app_context(), db.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            return False
        self.last_answer = time.monotonic()
        self.answered.set()
        return True

    def keep_asking(self) -> None:
        """Start the asking thread: once per process (again in a forked child, and again
        should it have died)."""
        with self._starting:
            thread = self._thread
            if thread is not None and thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="db-probe", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.ask()
            except Exception:  # never end the thread: the task would turn unhealthy unlogged
                log.exception("database probe failed")
            self._stop.wait(self.every)


PROBE = "fairroll.database_probe"
_MAKING = threading.Lock()
# How long the check waits for the probe's first answer (under the balancers' 5 s).
FIRST_ANSWER_WAIT = 3.0


def database_probe(app: Flask) -> DatabaseProbe:
    """The app's probe (one per process: gunicorn's workers each build their app)."""
    with _MAKING:
        probe = app.extensions.get(PROBE)
        if probe is None:
            probe = app.extensions[PROBE] = DatabaseProbe(
                app, every=app.config["FAIRROLL_DB_PROBE_SECONDS"]
            )
    return cast(DatabaseProbe, probe)


@bp.get("/startedz")
def startedz() -> Response:
    """The load balancers' check: 503 until this process has reached the database once;
    then 200 for as long as it has heard from it within FAIRROLL_DB_OUTAGE_GRACE_SECONDS.

    A new task that cannot reach the database (a wrong setting in a new version) never
    gets traffic, and the deployment rolls back. A database failover shorter than the
    grace takes no task out: with a check that asked the database each time, every task
    would fail together, be replaced together, and come back a task start after the
    database did; staying, they answer 503 meanwhile and serve again the moment it is
    back. A task that alone cannot reach it (a network fault of its own) is replaced
    once the grace has passed.
    """
    if db.engine.dialect.name != "postgresql":
        return readyz()  # the embedded SQLite file: nothing to fail over, no other task
    probe = database_probe(current_app._get_current_object())  # type: ignore[attr-defined]
    probe.keep_asking()
    if not probe.answered.wait(FIRST_ANSWER_WAIT):
        return json_error(503, "database_unavailable", "The database was never reached.")
    silent = time.monotonic() - (probe.last_answer or 0.0)
    if silent > current_app.config["FAIRROLL_DB_OUTAGE_GRACE_SECONDS"]:
        return json_error(503, "database_unavailable", "The database has not answered lately.")
    return jsonify(status="ok")
