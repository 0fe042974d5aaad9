"""Alert settings from the config, and a heartbeat's incremental alert evaluation."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from backend.extensions import db
from backend.models import Dispenser
from backend.services.alerts import (
    AlertChange,
    AlertSettings,
    active_conditions,
    evaluate_dispenser,
)


def alert_settings(app: Flask) -> AlertSettings:
    """Alert thresholds from the configuration."""
    config = app.config
    offline = config["FAIRROLL_OFFLINE_AFTER_SECONDS"] or 3 * config["FAIRROLL_HEARTBEAT_SECONDS"]
    return AlertSettings(
        low_paper_percent=config["FAIRROLL_LOW_PAPER_PERCENT"],
        offline_after=timedelta(seconds=offline),
    )


def on_heartbeat(
    app: Flask, dispenser: Dispenser, before: dict[str, str], *, now: datetime
) -> list[AlertChange]:
    """After a heartbeat was recorded (not yet committed): this dispenser's alerts only.

    ``before`` holds the conditions that held before the heartbeat. When the same kinds
    hold now, and the dispenser was not offline, its alerts are already right: no statement.
    Paper readings and forecasts are the fleet job's (backend.fleet_job), not the request's.
    """
    settings = alert_settings(app)
    after = active_conditions(dispenser, settings, now=now)
    if "offline" not in before and after.keys() == before.keys():
        return []
    return evaluate_dispenser(db.session, dispenser, settings, now=now)


def conditions_before(app: Flask, dispenser: Dispenser, *, now: datetime) -> dict[str, str]:
    """The alert conditions of ``dispenser`` as stored, before a heartbeat changes it."""
    return active_conditions(dispenser, alert_settings(app), now=now)
