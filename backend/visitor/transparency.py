"""Public pages of a site: the transparency report and the privacy notice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from backend.errors import NotFound
from backend.extensions import db
from backend.models import Dispenser, Site
from backend.services.transparency import (
    dispense_counts_by_method,
    offered_dispenses,
    opt_out_counts,
)
from backend.visitor import bp
from backend.visitor.web import duration, page
from protocol.clock import utcnow

REPORT_DAYS = 30


def _site(site_id: int) -> Site:
    site = db.session.get(Site, site_id)
    if site is None:
        raise NotFound("no site has that number")
    return site


def _site_facts(site: Site) -> dict[str, Any]:
    """Policy and retention facts both public pages state."""
    config = current_app.config
    return {
        "site": site,
        "retention_days": config["FAIRROLL_RETENTION_DAYS"],
        "token_life": duration(config["FAIRROLL_TOKEN_TTL_SECONDS"]),
        "window": duration(site.window_seconds),
        "dispenser_count": db.session.query(Dispenser).filter_by(site_id=site.id).count(),
    }


@bp.get("/sites/<int:site_id>")
def site_report(site_id: int) -> tuple[str, int]:
    """Counts by method over 30 days, what is collected and kept, face mode, contact."""
    site = _site(site_id)
    now = utcnow()
    since = now - timedelta(days=REPORT_DAYS)
    counts = dispense_counts_by_method(db.session, site, since=since, now=now)
    total = sum(counts.values())
    # The share that chose another way where a face scan was offered, as recorded then.
    non_face, offered = opt_out_counts(
        offered_dispenses(db.session, since=since, now=now, site_id=site.id)
    )
    return page(
        "visitor/transparency.html",
        counts=counts,
        total=total,
        non_face_share=round(non_face * 100 / offered) if offered else None,
        days=REPORT_DAYS,
        **_site_facts(site),
    )


@bp.get("/sites/<int:site_id>/privacy")
def privacy_notice(site_id: int) -> tuple[str, int]:
    """The privacy notice and the face-scan consent text, for this site."""
    return page("visitor/privacy.html", **_site_facts(_site(site_id)))
