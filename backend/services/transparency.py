"""Figures for the public transparency page of a site."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from backend.models import DeviceEvent, Dispenser, Site
from backend.models.event import EVENT_METHODS
from backend.services.sql import Db


def dispense_counts_by_method(
    session: Db, site: Site, *, since: datetime, now: datetime
) -> dict[str, int]:
    """Portions dispensed at ``site`` in [since, now], per method (every method, zeros too).

    Reads the raw device events; those are purged after the retention period, so a
    window longer than it needs the daily aggregates kept after the purge.
    """
    counts = dict.fromkeys(EVENT_METHODS, 0)
    rows = session.execute(
        select(DeviceEvent.method, func.count(DeviceEvent.id))
        .join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id)
        .where(
            Dispenser.site_id == site.id,
            DeviceEvent.kind == "dispense",
            DeviceEvent.occurred_at >= since,
            DeviceEvent.occurred_at <= now,
        )
        .group_by(DeviceEvent.method)
    ).all()
    for method, count in rows:
        if method in counts:
            counts[method] = int(count)
    return counts
