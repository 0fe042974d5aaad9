"""The fleet view, dispenser pages, refill list, alerts and charts."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, render_template, request
from sqlalchemy import select

from backend.admin import bp
from backend.admin.charts import paper_chart, stacked_bars
from backend.admin.security import utcnow
from backend.alerting import alert_settings
from backend.extensions import db
from backend.models import Alert, Dispenser, Site
from backend.request_guards import bounded_int
from backend.services.alerts import open_alerts, recent_alerts
from backend.services.fleet import dispenser_state
from backend.services.forecast import forecast_dispenser, forecasts_for, refill_list
from backend.services.stats import (
    day_counts,
    day_series,
    dispenses_per_hour,
    last_days,
    non_face_share,
    paper_use,
)


def _site_filter() -> Site | None:
    raw = request.args.get("site", "")
    if not raw:
        return None
    site_id = bounded_int(raw)
    if site_id is None:
        abort(404)
    site = db.session.get(Site, site_id)
    if site is None:
        abort(404)
    return site


@bp.get("/")
def fleet() -> str:
    """Every dispenser with its state, paper level, last heartbeat, alerts and forecast."""
    now = utcnow()
    settings = alert_settings(current_app)
    low = settings.low_paper_percent
    site = _site_filter()
    query = select(Dispenser).order_by(Dispenser.site_id, Dispenser.id)
    if site is not None:
        query = query.where(Dispenser.site_id == site.id)
    dispensers = db.session.scalars(query).all()
    alerts_by = _alerts_by_dispenser(
        open_alerts(db.session, dispenser_ids=[d.id for d in dispensers])
    )
    forecasts = forecasts_for(db.session, dispensers, now=now, low_percent=low)
    rows = [
        {
            "dispenser": d,
            "state": dispenser_state(d, settings, now=now),
            "alerts": alerts_by.get(d.id, []),
            "forecast": forecasts[d.id],
        }
        for d in dispensers
    ]
    site_id = site.id if site else None
    hourly = dispenses_per_hour(db.session, now=now, site_id=site_id)
    # One pass over 14 days of counts feeds the daily chart, paper use and the opt-out figure.
    dates = last_days(now.date(), 14)
    counts = day_counts(db.session, today=now.date(), days=14, site_id=site_id)
    daily = day_series(counts, dates, site_id)
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    return render_template(
        "admin/fleet.html",
        rows=rows,
        sites=sites,
        site=site,
        low=low,
        hourly_chart=stacked_bars(hourly, "Dispenses per hour by method, last 24 hours (UTC)"),
        daily_chart=stacked_bars(daily, "Dispenses per day by method, last 14 days (UTC)"),
        paper=paper_chart(
            paper_use(db.session, counts, dates, site_id),
            "Paper used per day against the baseline",
        ),
        daily_by_method=daily.by_method(),
        opt_out=non_face_share(db.session, counts, since=dates[-7]),
    )


def _alerts_by_dispenser(alerts: list[Alert]) -> dict[int, list[Alert]]:
    grouped: dict[int, list[Alert]] = {}
    for alert in alerts:
        grouped.setdefault(alert.dispenser_id, []).append(alert)
    return grouped


@bp.get("/dispensers/<public_id>")
def dispenser(public_id: str) -> str:
    """One dispenser: state, forecast, alerts, and (for admins) its actions."""
    found = db.first_or_404(select(Dispenser).where(Dispenser.public_id == public_id))
    now = utcnow()
    settings = alert_settings(current_app)
    history = db.session.scalars(
        select(Alert)
        .where(Alert.dispenser_id == found.id)
        .order_by(Alert.raised_at.desc(), Alert.id.desc())
        .limit(20)
    ).all()
    return render_template(
        "admin/dispenser.html",
        d=found,
        state=dispenser_state(found, settings, now=now),
        forecast=forecast_dispenser(
            db.session, found, now=now, low_percent=settings.low_paper_percent
        ),
        alerts=history,
    )


@bp.get("/refills")
def refills() -> str:
    """The refill list for a maintainer's round (print-ready)."""
    now = utcnow()
    config = current_app.config
    site = _site_filter()
    items = refill_list(
        db.session,
        now=now,
        low_percent=config["FAIRROLL_LOW_PAPER_PERCENT"],
        horizon=timedelta(hours=config["FAIRROLL_REFILL_HORIZON_HOURS"]),
        site_id=site.id if site else None,
    )
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    return render_template(
        "admin/refills.html",
        items=items,
        sites=sites,
        site=site,
        now=now,
        horizon=config["FAIRROLL_REFILL_HORIZON_HOURS"],
    )


@bp.get("/alerts")
def alerts() -> str:
    """Open and recently resolved alerts."""
    rows = recent_alerts(db.session, limit=100)
    names = {
        d.id: d
        for d in db.session.scalars(
            select(Dispenser).where(Dispenser.id.in_({a.dispenser_id for a in rows}))
        )
    }
    return render_template("admin/alerts.html", alerts=rows, dispensers=names)
