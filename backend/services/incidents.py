"""Incidents: the open alerts of a site grouped by kind, each a handful of notices.

A city-wide outage is thousands of dispenser alerts but one incident per site and kind,
and each check run sends one digest of the incidents that opened, need a reminder, or
resolved. Every step is one set-based statement over the whole fleet, and every
transition a conditional write with RETURNING, so two concurrent runs never report the
same transition twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, func, literal, select, true, update

from backend.models import Alert, Dispenser, Incident, MaintenanceWindow, Site
from backend.services.sql import Db, insert_for

OPENED, REMINDER, RESOLVED = "opened", "reminder", "resolved"


@dataclass(frozen=True)
class IncidentNotice:
    """An incident that opened, is still going (reminder), or resolved, in this run."""

    change: str
    incident_id: int
    site_id: int
    site: str
    kind: str
    dispensers: int
    peak: int
    opened_at: datetime
    silenced: bool


def _open_alert_counts() -> Select[int, str, int]:
    """(site_id, kind, n): open alerts per site and kind, one GROUP BY over the fleet."""
    return (
        select(Dispenser.site_id, Alert.kind, func.count().label("n"))
        .join(Dispenser, Dispenser.id == Alert.dispenser_id)
        .where(Alert.is_open.is_(True))
        .group_by(Dispenser.site_id, Alert.kind)
    )


def update_incidents(
    session: Db, *, now: datetime, reminder_every: timedelta
) -> list[IncidentNotice]:
    """Open, count, remind and resolve incidents from the open alerts; return the notices.

    Writes only (never commits): the caller commits, then sends the notices that no
    maintenance window silences.
    """
    counts = _open_alert_counts().subquery()
    table = Incident.__table__
    already_open = exists().where(
        Incident.site_id == counts.c.site_id,
        Incident.kind == counts.c.kind,
        Incident.is_open.is_(True),
    )
    opened = session.execute(
        insert_for(session, Incident)
        .from_select(
            ["site_id", "kind", "is_open", "dispensers", "peak", "opened_at", "last_notified_at"],
            select(
                counts.c.site_id,
                counts.c.kind,
                true(),
                counts.c.n,
                counts.c.n,
                literal(now, Incident.opened_at.type),
                literal(now, Incident.last_notified_at.type),
            ).where(~already_open),
        )
        .on_conflict_do_nothing(index_elements=["site_id", "kind", "is_open"])
        .returning(table.c.id)
    ).scalars()
    opened_ids = set(opened)
    # Current count of every open incident (0 when its last alert cleared).
    current = (
        select(func.count())
        .select_from(Alert)
        .join(Dispenser, Dispenser.id == Alert.dispenser_id)
        .where(
            Alert.is_open.is_(True),
            Alert.kind == Incident.kind,
            Dispenser.site_id == Incident.site_id,
        )
        .scalar_subquery()
    )
    session.execute(
        update(Incident)
        .where(Incident.is_open.is_(True))
        .values(dispensers=current)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Incident)
        .where(Incident.is_open.is_(True), Incident.dispensers > Incident.peak)
        .values(peak=Incident.dispensers)
        .execution_options(synchronize_session=False)
    )
    resolved_ids = set(
        session.execute(
            update(Incident)
            .where(Incident.is_open.is_(True), Incident.dispensers == 0)
            .values(is_open=None, resolved_at=now)
            .returning(Incident.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    reminded_ids = set(
        session.execute(
            update(Incident)
            .where(
                Incident.is_open.is_(True),
                Incident.last_notified_at <= now - reminder_every,
            )
            .values(last_notified_at=now)
            .returning(Incident.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    changes = (
        {i: OPENED for i in opened_ids}
        | {i: REMINDER for i in reminded_ids}
        | {i: RESOLVED for i in resolved_ids}
    )
    return _notices(session, changes, now=now)


def _notices(session: Db, changes: dict[int, str], *, now: datetime) -> list[IncidentNotice]:
    """The notices of the changed incidents, each marked silenced or not."""
    if not changes:
        return []
    rows = session.execute(
        select(Incident, Site.name)
        .join(Site, Site.id == Incident.site_id)
        .where(Incident.id.in_(list(changes)))
        .order_by(Site.name, Incident.kind)
    ).all()
    fleet_silenced, silenced_sites = active_silences(session, now=now)
    return [
        IncidentNotice(
            change=changes[incident.id],
            incident_id=incident.id,
            site_id=incident.site_id,
            site=site_name,
            kind=incident.kind,
            dispensers=incident.dispensers,
            peak=incident.peak,
            opened_at=incident.opened_at,
            silenced=fleet_silenced or incident.site_id in silenced_sites,
        )
        for incident, site_name in rows
    ]


def active_silences(session: Db, *, now: datetime) -> tuple[bool, set[int]]:
    """Whether a fleet-wide maintenance window is on, and the sites with one of their own."""
    rows = session.execute(
        select(MaintenanceWindow.site_id).where(
            MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now
        )
    ).scalars()
    sites = set(rows)
    return None in sites, {site for site in sites if site is not None}


def open_incidents(session: Db) -> list[tuple[Incident, str]]:
    """Open incidents with their site's name, largest first (for the admin pages)."""
    return [
        (incident, name)
        for incident, name in session.execute(
            select(Incident, Site.name)
            .join(Site, Site.id == Incident.site_id)
            .where(Incident.is_open.is_(True))
            .order_by(Incident.dispensers.desc(), Site.name)
        ).all()
    ]
