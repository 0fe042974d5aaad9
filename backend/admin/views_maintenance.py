"""Maintenance windows and open incidents: silence notifications during planned work."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from backend.admin import bp
from backend.admin.security import current_operator
from backend.errors import DomainError, InvalidInput
from backend.extensions import db
from backend.models import Site
from backend.services.audit import record_audit
from backend.services.incidents import open_incidents
from backend.services.maintenance import current_windows, end_window, start_window
from protocol.clock import utcnow


def _page(status: int = 200) -> ResponseReturnValue:
    now = utcnow()
    return (
        render_template(
            "admin/maintenance.html",
            windows=current_windows(db.session, now=now),
            incidents=open_incidents(db.session),
            sites=db.session.scalars(select(Site).order_by(Site.name)).all(),
            now=now,
        ),
        status,
    )


@bp.get("/maintenance")
def maintenance() -> ResponseReturnValue:
    """Open incidents, running and upcoming windows, and the form for a new window."""
    return _page()


@bp.post("/maintenance")
def maintenance_start() -> ResponseReturnValue:
    """Start a window now for a number of minutes, for one site or the whole fleet."""
    operator = current_operator()
    assert operator is not None
    now = utcnow()
    try:
        minutes = int(request.form.get("minutes", ""))
    except ValueError:
        minutes = 0
    site_field = request.form.get("site", "")
    try:
        if not 1 <= minutes <= 7 * 24 * 60:
            raise InvalidInput("minutes must be a whole number from 1 to 10080 (7 days)")
        site = None
        if site_field:
            site = db.session.get(Site, int(site_field)) if site_field.isdigit() else None
            if site is None:
                raise InvalidInput("choose a site from the list")
        window = start_window(
            db.session,
            site=site,
            starts_at=now,
            ends_at=now + timedelta(minutes=minutes),
            reason=request.form.get("reason", ""),
            created_by=operator.email,
            now=now,
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _page(400)
    scope = site.name if site else "the whole fleet"
    record_audit(
        db.session, operator, "maintenance_started", now=now, target=scope, reason=window.reason
    )
    db.session.commit()
    flash(f"Notifications for {scope} are silenced until {window.ends_at:%H:%M} UTC.")
    return redirect(url_for("admin.maintenance"))


@bp.post("/maintenance/<int:window_id>/end")
def maintenance_end(window_id: int) -> ResponseReturnValue:
    """End a window now (or cancel an upcoming one)."""
    operator = current_operator()
    assert operator is not None
    now = utcnow()
    if not end_window(db.session, window_id, now=now):
        db.session.rollback()
        flash(f"Window {window_id} had already ended.", "error")
        return _page(409)
    record_audit(db.session, operator, "maintenance_ended", now=now, target=str(window_id))
    db.session.commit()
    flash("The window has ended; notifications resume with the next check.")
    return redirect(url_for("admin.maintenance"))
