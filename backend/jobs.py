"""Periodic jobs for the embedded deployment: the fleet job and the daily purge.

In AWS these run as scheduled tasks (`flask --app app alerts check`, the fleet job, every minute,
`flask --app app purge` daily). A single embedded process runs them in a thread instead.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from flask import Flask

from backend.extensions import db
from backend.fleet_job import run_fleet_job
from backend.services.purge import purge_expired
from protocol.clock import utcnow

log = logging.getLogger("fairroll.jobs")


def run_purge(app: Flask, *, now: datetime) -> dict[str, int]:
    """Purge past the configured retention and commit; return the counts."""
    retention = timedelta(days=app.config["FAIRROLL_RETENTION_DAYS"])
    result = purge_expired(db.session, now=now, retention=retention)
    db.session.commit()
    return result.counts


class BackgroundJobs(threading.Thread):
    """A daemon thread running the fleet job every ``check_every`` seconds and the purge
    every ``purge_every`` seconds (first at start)."""

    def __init__(self, app: Flask, *, check_every: float = 30, purge_every: float = 86_400):
        super().__init__(name="fairroll-jobs", daemon=True)
        self.app = app
        self.check_every = check_every
        self.purge_every = purge_every
        self.stopped = threading.Event()

    def run(self) -> None:
        next_purge = 0.0
        elapsed = 0.0
        while not self.stopped.wait(timeout=0 if elapsed == 0 else self.check_every):
            with self.app.app_context():
                try:
                    now = utcnow()
                    if elapsed >= next_purge:
                        log.info("purge: %s", run_purge(self.app, now=now))
                        next_purge = elapsed + self.purge_every
                    run_fleet_job(self.app, now=now)
                except Exception:  # a failed run must not end the thread; the next one retries
                    db.session.rollback()
                    log.exception("background job failed")
                finally:
                    db.session.remove()
            elapsed += self.check_every

    def stop(self) -> None:
        """Ask the thread to finish after its current run."""
        self.stopped.set()
