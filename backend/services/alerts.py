"""Alerts: raised once when a condition starts, resolved automatically when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from backend.models import Alert, Dispenser
from backend.services.sql import Db, insert_for


@dataclass(frozen=True)
class AlertSettings:
    """When paper counts as low, and how long without a heartbeat counts as offline."""

    low_paper_percent: int = 20
    offline_after: timedelta = timedelta(minutes=3)


@dataclass(frozen=True)
class AlertChange:
    """An alert that was just raised or resolved, for the notifier."""

    change: str  # "raised" or "resolved"
    kind: str
    dispenser: str
    label: str
    site: str
    detail: str
    at: datetime

    def subject(self) -> str:
        """A one-line summary for a notification."""
        word = "RESOLVED" if self.change == "resolved" else "ALERT"
        where = f"{self.site} / {self.label or self.dispenser}"
        return f"[fairroll] {word} {self.kind.replace('_', ' ')}: {where}"


class DeviceState(Protocol):
    """What the alert conditions read of a dispenser: a Dispenser, or its state as it was
    before a heartbeat replaced it (backend.services.devices.Beat)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def last_heartbeat_at(self) -> datetime | None: ...
    @property
    def paper_level(self) -> int | None: ...
    @property
    def status(self) -> str: ...


def active_conditions(
    dispenser: DeviceState, settings: AlertSettings, *, now: datetime
) -> dict[str, str]:
    """The alert kinds that hold for ``dispenser`` now, each with a short detail."""
    if not dispenser.enabled:
        return {}  # switched off by an operator: nothing to alert about
    conditions: dict[str, str] = {}
    seen = dispenser.last_heartbeat_at
    if seen is not None and now - seen > settings.offline_after:
        minutes = int((now - seen).total_seconds() // 60)
        conditions["offline"] = f"no heartbeat for {minutes} min"
    level = dispenser.paper_level
    if dispenser.status == "empty" or level == 0:
        conditions["empty"] = "paper empty"
    elif dispenser.status == "low" or (level is not None and level <= settings.low_paper_percent):
        conditions["low_paper"] = f"paper at {level}%" if level is not None else "paper low"
    if dispenser.status == "jam":
        conditions["jam"] = "paper jammed"
    if dispenser.status == "camera_fault":
        conditions["camera_fault"] = "camera not working"
    return conditions


def condition_filters(settings: AlertSettings, *, now: datetime) -> dict[str, ColumnElement[bool]]:
    """active_conditions() as SQL predicates on dispensers, for counting in the database
    (the fleet job's figures): the same rules, so metrics and alerts agree. Each holds
    only for an enabled dispenser."""
    d = Dispenser
    level = func.coalesce(d.paper_level, -1)  # no reading yet: neither empty nor low
    empty = or_(d.status == "empty", level == 0)
    low = and_(~empty, or_(d.status == "low", level.between(0, settings.low_paper_percent)))
    offline = and_(
        d.last_heartbeat_at.is_not(None), d.last_heartbeat_at < now - settings.offline_after
    )
    conditions = {
        "offline": offline,
        "empty": empty,
        "low_paper": low,
        "jam": d.status == "jam",
        "camera_fault": d.status == "camera_fault",
    }
    return {kind: and_(d.enabled.is_(True), rule) for kind, rule in conditions.items()}


def _change(
    dispenser: Dispenser, change: str, kind: str, detail: str, now: datetime
) -> AlertChange:
    return AlertChange(
        change=change,
        kind=kind,
        dispenser=dispenser.public_id,
        label=dispenser.label,
        site=dispenser.site.name,
        detail=detail,
        at=now,
    )


def evaluate_dispenser(
    session: Db, dispenser: Dispenser, settings: AlertSettings, *, now: datetime
) -> list[AlertChange]:
    """Raise alerts for new conditions and resolve those that ended; return the changes.

    Each raise is one INSERT ... ON CONFLICT DO NOTHING on (dispenser, kind, open), and
    each resolve one conditional UPDATE, so concurrent evaluations never double-notify.
    """
    wanted = active_conditions(dispenser, settings, now=now)
    changes: list[AlertChange] = []
    table = Alert.__table__
    for kind, detail in wanted.items():
        inserted = session.execute(
            insert_for(session, Alert)
            .values(
                dispenser_id=dispenser.id, kind=kind, is_open=True, detail=detail, raised_at=now
            )
            .on_conflict_do_nothing(index_elements=["dispenser_id", "kind", "is_open"])
            .returning(table.c.id)
        ).first()
        if inserted is not None:
            changes.append(_change(dispenser, "raised", kind, detail, now))
    ended = session.execute(
        update(Alert)
        .where(
            Alert.dispenser_id == dispenser.id,
            Alert.is_open.is_(True),
            Alert.kind.not_in(list(wanted)),
        )
        .values(is_open=None, resolved_at=now)
        .returning(Alert.kind, Alert.detail)
        .execution_options(synchronize_session=False)
    ).all()
    changes.extend(_change(dispenser, "resolved", row.kind, row.detail, now) for row in ended)
    return changes


def open_alerts(session: Db, *, dispenser_ids: list[int] | None = None) -> list[Alert]:
    """Open alerts, newest first, optionally only for some dispensers."""
    query = select(Alert).where(Alert.is_open.is_(True))
    if dispenser_ids is not None:
        query = query.where(Alert.dispenser_id.in_(dispenser_ids))
    return list(session.scalars(query.order_by(Alert.raised_at.desc(), Alert.id.desc())))


def recent_alerts(session: Db, *, limit: int = 50) -> list[Alert]:
    """The newest alerts, open or resolved."""
    query = select(Alert).order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(limit)
    return list(session.scalars(query))
