"""The fleet at a glance: every dispenser's state, and per-site totals for metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, literal, select

from backend.models import Alert, DailyAggregate, DeviceEvent, Dispenser, Site
from backend.models.base import UTCDateTime
from backend.services.alerts import AlertSettings
from backend.services.sql import Db


def dispenser_state(dispenser: Dispenser, settings: AlertSettings, *, now: datetime) -> str:
    """One word for the fleet view: disabled, new, offline, or the reported status."""
    if not dispenser.enabled:
        return "disabled"
    if dispenser.last_heartbeat_at is None:
        return "new"
    if now - dispenser.last_heartbeat_at > settings.offline_after:
        return "offline"
    return dispenser.status


@dataclass
class SiteTotals:
    """Aggregate figures of one site (what CloudWatch and Prometheus receive)."""

    site: str
    dispensers: int = 0
    states: Counter[str] = field(default_factory=Counter)
    low_paper: int = 0
    open_alerts: Counter[str] = field(default_factory=Counter)
    dispenses_last_hour: Counter[str] = field(default_factory=Counter)


def site_totals(session: Db, settings: AlertSettings, *, now: datetime) -> list[SiteTotals]:
    """Per-site totals: dispensers by state, low paper, open alerts, last hour's dispenses."""
    totals = {
        site_id: SiteTotals(name) for site_id, name in session.execute(select(Site.id, Site.name))
    }
    # Counted by the database (one row per site and state), never row by row here.
    state = _state_sql(settings, now)
    low = case(
        (
            Dispenser.enabled.is_(True)
            & Dispenser.paper_level.is_not(None)
            & (Dispenser.paper_level <= settings.low_paper_percent),
            1,
        ),
        else_=0,
    )
    by_state = select(Dispenser.site_id, state, func.count(Dispenser.id), func.sum(low)).group_by(
        Dispenser.site_id, state
    )
    for site_id, name, count, low_count in session.execute(by_state):
        entry = totals[site_id]
        entry.dispensers += int(count)
        entry.states[name] += int(count)
        entry.low_paper += int(low_count or 0)
    alerts = (
        select(Dispenser.site_id, Alert.kind, func.count(Alert.id))
        .join(Dispenser, Dispenser.id == Alert.dispenser_id)
        .where(Alert.is_open.is_(True))
        .group_by(Dispenser.site_id, Alert.kind)
    )
    for site_id, kind, count in session.execute(alerts):
        totals[site_id].open_alerts[kind] += int(count)
    recent = (
        select(Dispenser.site_id, DeviceEvent.method, func.count(DeviceEvent.id))
        .join(Dispenser, Dispenser.id == DeviceEvent.dispenser_id)
        .where(DeviceEvent.kind == "dispense", DeviceEvent.occurred_at >= now - timedelta(hours=1))
        .group_by(Dispenser.site_id, DeviceEvent.method)
    )
    for site_id, method, count in session.execute(recent):
        totals[site_id].dispenses_last_hour[method] += int(count)
    return sorted(totals.values(), key=lambda t: t.site)


def _state_sql(settings: AlertSettings, now: datetime) -> ColumnElement[str]:
    """dispenser_state() as SQL, so that states are counted by the database."""
    return case(
        (Dispenser.enabled.is_(False), literal("disabled")),
        (Dispenser.last_heartbeat_at.is_(None), literal("new")),
        (
            Dispenser.last_heartbeat_at < literal(now - settings.offline_after, UTCDateTime()),
            literal("offline"),
        ),
        else_=Dispenser.status,
    )


def event_totals(session: Db) -> Counter[tuple[str, str]]:
    """All events ever counted, by (method, kind): daily aggregates plus raw events."""
    totals: Counter[tuple[str, str]] = Counter()
    aggregated = select(
        DailyAggregate.method, DailyAggregate.kind, func.sum(DailyAggregate.count)
    ).group_by(DailyAggregate.method, DailyAggregate.kind)
    raw = select(DeviceEvent.method, DeviceEvent.kind, func.count(DeviceEvent.id)).group_by(
        DeviceEvent.method, DeviceEvent.kind
    )
    for query in (aggregated, raw):
        for method, kind, count in session.execute(query):
            totals[(method, kind)] += int(count or 0)
    return totals
