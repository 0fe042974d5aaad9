"""A heartbeat's incremental alert evaluation (fleet-wide checks: backend.fleet_job)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from backend.extensions import db
from backend.models import Dispenser
from backend.services.alerts import (
    AlertChange,
    DeviceState,
    active_conditions,
    evaluate_dispenser,
)
from backend.wiring import alert_settings


def on_heartbeat(
    app: Flask, dispenser: Dispenser, before: dict[str, str], *, now: datetime
) -> list[AlertChange]:
    """After a heartbeat was recorded (committed already on PostgreSQL, where it is its
    own statement and transaction): this dispenser's alerts only, in the request's
    transaction.

    ``before`` holds the conditions that held before the heartbeat. A healthy dispenser
    that stays healthy (nothing held before, nothing now) gets no statement, which is
    almost every heartbeat: it has no open alert to resolve unless an earlier heartbeat
    failed between its commit and its alert writes, and the fleet job resolves those.
    Otherwise the alerts are evaluated (a condition that persists may have lost its alert
    while the dispenser was switched off). Readings and forecasts are the fleet job's
    (backend.fleet_job).
    """
    settings = alert_settings(app)
    if not before and not active_conditions(dispenser, settings, now=now):
        return []
    return evaluate_dispenser(db.session, dispenser, settings, now=now)


def conditions_before(app: Flask, dispenser: DeviceState, *, now: datetime) -> dict[str, str]:
    """The alert conditions of a dispenser as stored before a heartbeat changed it."""
    return active_conditions(dispenser, alert_settings(app), now=now)
