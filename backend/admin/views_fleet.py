"""The fleet view, dispenser pages, refill list, alerts and charts."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from backend.admin import bp
from backend.admin.charts import paper_chart, stacked_bars
from backend.extensions import db
from backend.models import Alert, Dispenser, Site
from backend.request_guards import bounded_int
from backend.services.alerts import open_alerts, recent_alerts
from backend.services.fleet import dispenser_state
from backend.services.forecast import forecast_dispenser, refill_list, stored_forecasts
from backend.services.stats import (
    day_counts,
    day_series,
    dispenses_per_hour,
    last_days,
    non_face_share,
    paper_use,
)
from backend.wiring import alert_settings
from protocol.clock import utcnow


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


PER_PAGE = 100


def _page() -> int:
    return max(1, request.args.get("page", default=1, type=int) or 1)


@bp.get("/")
def fleet() -> str:
    """One page of dispensers with state, paper level, last heartbeat, alerts and forecast.

    Filtered and paginated in SQL; forecasts are the fleet job's stored rates.
    """
    now = utcnow()
    settings = alert_settings(current_app)
    low = settings.low_paper_percent
    site = _site_filter()
    page = _page()
    where = [Dispenser.site_id == site.id] if site is not None else []
    total = db.session.scalar(select(func.count()).select_from(Dispenser).where(*where)) or 0
    dispensers = db.session.scalars(
        select(Dispenser)
        .options(joinedload(Dispenser.site, innerjoin=True))
        .where(*where)
        .order_by(Dispenser.site_id, Dispenser.id)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    alerts_by = _alerts_by_dispenser(
        open_alerts(db.session, dispenser_ids=[d.id for d in dispensers])
    )
    forecasts = stored_forecasts(db.session, dispensers, now=now, low_percent=low)
    rows = [
        {
            "dispenser": d,
            "state": dispenser_state(d, settings, now=now),
            "alerts": alerts_by.get(d.id, []),
            "forecast": forecasts[d.id],
        }
        for d in dispensers
    ]
    alert_count = db.session.scalar(
        select(func.count())
        .select_from(Alert)
        .join(Dispenser, Dispenser.id == Alert.dispenser_id)
        .where(Alert.is_open.is_(True), *where)
    )
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
        total=total,
        alert_count=alert_count or 0,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
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
        opt_out=non_face_share(db.session, since=dates[-7], now=now, site_id=site_id),
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
    result = refill_list(
        db.session,
        now=now,
        low_percent=config["FAIRROLL_LOW_PAPER_PERCENT"],
        horizon=timedelta(hours=config["FAIRROLL_REFILL_HORIZON_HOURS"]),
        site_id=site.id if site else None,
        page=_page(),
        per_page=PER_PAGE,
    )
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    return render_template(
        "admin/refills.html",
        items=result.items,
        total=result.total,
        page=result.page,
        pages=max(1, -(-result.total // PER_PAGE)),
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
