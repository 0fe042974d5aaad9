"""The scheduled fleet job: everything that looks at the whole fleet, once a minute
(offline alerts, paper readings and forecasts, hourly event counts for the charts,
fleet-wide metrics).

Run by `flask --app app fleet tick` (also `alerts check`, the name the infrastructure
schedules) and by the embedded deployment's background thread. Never run inside a
request. One transaction guarded by an advisory lock, so several backend instances may
schedule it and exactly one does the work at a time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask

from backend.extensions import db
from backend.incident_alerts import notify_incidents
from backend.models import FleetJobRun
from backend.notify import send_all
from backend.services.aggregates import hours_counted
from backend.services.alerts import AlertChange
from backend.services.fleet_check import (
    FleetFigures,
    Intake,
    allow_full_count,
    fleet_figures,
    fleet_intake,
    forget_old_hours,
    forget_old_runs,
    last_settled_run_start,
    previous_run_start,
    raise_offline_alerts,
    recently_blind,
    recompute_forecasts,
    resolve_ended_alerts,
    roll_up_hours,
    snapshot_paper_levels,
    try_fleet_job_lock,
)
from backend.wiring import alert_settings

log = logging.getLogger("fairroll.fleet")
KEEP_RUNS = timedelta(days=7)
# A heartbeat committed just after the previous run started may carry an older time.
READING_MARGIN = timedelta(minutes=2)


@dataclass
class FleetJobReport:
    """What one run did."""

    intake: Intake
    offline_held: bool
    changes: list[AlertChange]
    readings: int
    forecasts: int
    hours: int
    figures: FleetFigures
    seconds: float
    published: int = 0
    notes: list[str] = field(default_factory=list)


def run_fleet_job(app: Flask, *, now: datetime) -> FleetJobReport | None:
    """One run: offline alerts (held if the backend's own intake dropped, or it was blind
    lately), readings, forecasts, figures; commit, notify, publish. None if another run
    holds the lock."""
    started = time.perf_counter()
    session = db.session
    if not try_fleet_job_lock(session):
        session.rollback()
        log.info("fleet job: another run holds the lock; skipped")
        return None
    settings = alert_settings(app)
    beat = timedelta(seconds=app.config["FAIRROLL_HEARTBEAT_SECONDS"] * 1.5)
    last_run = previous_run_start(session)
    previous = last_run or now - beat
    intake = fleet_intake(session, now=now, beat=beat)
    blind = recently_blind(session, now=now, span=settings.offline_after + beat)
    held = intake.dropped() or blind
    changes: list[AlertChange] = []
    if intake.dropped():
        log.warning(
            "fleet job: heard %d of %d dispensers in the last %ds; offline alerts held "
            "(the backend or the network was behind)",
            intake.heard,
            intake.known,
            int(beat.total_seconds()),
        )
    elif blind:
        log.warning(
            "fleet job: the job did not run (or its intake had dropped) within the last "
            "%ds; offline alerts held until the backend has heard the fleet that long",
            int((settings.offline_after + beat).total_seconds()),
        )
    else:
        changes += raise_offline_alerts(session, settings, now=now)
    changes += resolve_ended_alerts(session, settings, now=now)
    readings = snapshot_paper_levels(session, since=previous - READING_MARGIN)
    forecasts = recompute_forecasts(session, now=now, changed_since=previous - READING_MARGIN)
    # The first run (ever, or since a migration emptied the counts) counts every hour, with
    # more time for its statements; later runs the hours that received events.
    since = None
    if last_run is not None and hours_counted(session):
        since = last_run - READING_MARGIN
    else:
        allow_full_count(session)
    hours = roll_up_hours(session, received_since=since)
    forget_old_hours(session)
    publishing = bool(app.config["FAIRROLL_CLOUDWATCH_METRICS"])
    # Dispenses since the last run whose figures were published (a failed publication's
    # window goes out with the next one), or since the last run.
    settled = last_settled_run_start(session) if publishing else None
    figures = fleet_figures(session, settings, now=now, since=settled or previous)
    seconds = time.perf_counter() - started
    run = FleetJobRun(
        started_at=now,
        seconds=seconds,
        known=intake.known,
        heard=intake.heard,
        offline_held=held,
        raised=sum(c.change == "raised" for c in changes),
        resolved=sum(c.change == "resolved" for c in changes),
        # Marked published before publishing (outside the transaction and the job's
        # lock): a run that starts meanwhile counts from this one, never this window too.
        published=True if publishing else None,
    )
    session.add(run)
    forget_old_runs(session, before=now - KEEP_RUNS)
    session.commit()
    send_all(app, changes)
    # People are paged per incident (a site and kind), never per dispenser.
    notify_incidents(app, now=now)
    report = FleetJobReport(intake, held, changes, readings, forecasts, hours, figures, seconds)
    if publishing:
        from backend.metrics import publish_fleet_figures

        # The database work is committed first. If publishing fails, the run is marked so:
        # the next run publishes the fleet's state again and this window's dispenses with
        # its own (the charts, read from the database, miss nothing either way).
        try:
            report.published = publish_fleet_figures(app, report, now=now)
        except Exception:
            log.exception("could not publish the fleet metrics to CloudWatch")
            report.notes.append("cloudwatch publication failed")
            run.published = False
            session.commit()
    return report
