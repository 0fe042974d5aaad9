"""Glue between alert rules, the database and the notifier (handlers and jobs call this)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from flask import Flask

from backend.extensions import db
from backend.incident_alerts import notify_incidents
from backend.models import Dispenser
from backend.notify import send_all
from backend.services.alerts import AlertChange, check_fleet, evaluate_dispenser
from backend.services.forecast import record_paper_reading
from backend.wiring import alert_settings

log = logging.getLogger("fairroll.alerts")


def on_heartbeat(app: Flask, dispenser: Dispenser, *, now: datetime) -> list[AlertChange]:
    """After a heartbeat was recorded (not yet committed): readings and alert evaluation."""
    if dispenser.paper_level is not None:
        record_paper_reading(db.session, dispenser, dispenser.paper_level, now=now)
    return evaluate_dispenser(db.session, dispenser, alert_settings(app), now=now)


def run_fleet_check(app: Flask, *, now: datetime) -> list[AlertChange]:
    """The periodic check (offline dispensers): evaluate, commit, then notify."""
    changes = check_fleet(db.session, alert_settings(app), now=now)
    db.session.commit()
    send_all(app, changes)
    # People are paged per incident (a site and kind), never per dispenser.
    notify_incidents(app, now=now)
    return changes


class FleetCheckGate:
    """Lets one caller in at most every ``interval`` seconds (the piggybacked fleet check)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        """True at most once per interval."""
        with self._lock:
            moment = time.monotonic()
            if moment < self._next:
                return False
            self._next = moment + self.interval
            return True


def maybe_run_fleet_check(app: Flask, *, now: datetime) -> None:
    """Run the fleet check if this process has not run it in the last minute.

    Heartbeats arrive every minute from every dispenser, so riding on them keeps offline
    detection (and the CloudWatch metrics, where enabled) going wherever the backend runs,
    without a separate scheduler.
    """
    gate: FleetCheckGate = app.extensions.setdefault("fairroll.fleet_gate", FleetCheckGate(60))
    if not gate.due():
        return
    # The heartbeat is already stored: nothing here may turn its answer into an error.
    try:
        run_fleet_check(app, now=now)
    except Exception:
        db.session.rollback()
        log.exception("the fleet check failed; the next heartbeat retries it")
        return
    if app.config["FAIRROLL_CLOUDWATCH_METRICS"]:
        from backend.metrics import publish_fleet_metrics

        try:
            publish_fleet_metrics(app, now=now)
        except Exception:
            log.exception("could not publish the fleet metrics to CloudWatch")
