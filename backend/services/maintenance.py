"""Maintenance windows: planned work (a restore drill, a site refit) that pages nobody."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from backend.errors import InvalidInput
from backend.models import MaintenanceWindow, Site
from backend.services.sql import Db

MAX_LENGTH = timedelta(days=7)


def start_window(
    session: Db,
    *,
    site: Site | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str,
    now: datetime,
) -> MaintenanceWindow:
    """Silence the incidents of ``site`` (None: the whole fleet) for the given time."""
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise InvalidInput("give the reason for the window (1 to 200 characters)")
    if ends_at <= starts_at:
        raise InvalidInput("a maintenance window must end after it starts")
    if ends_at <= now:
        raise InvalidInput("that maintenance window would already be over")
    if ends_at - starts_at > MAX_LENGTH:
        raise InvalidInput("a maintenance window lasts at most 7 days; start another after it")
    window = MaintenanceWindow(
        site_id=site.id if site else None,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=created_by,
        created_at=now,
    )
    session.add(window)
    session.flush()
    return window


def end_window(session: Db, window_id: int, *, now: datetime) -> bool:
    """End a running window now, or cancel one not yet started; False if it had already ended.

    One conditional write each way, so two operators ending the same window both see it
    ended and only one of them did it.
    """
    ended = session.execute(
        update(MaintenanceWindow)
        .where(
            MaintenanceWindow.id == window_id,
            MaintenanceWindow.starts_at < now,
            MaintenanceWindow.ends_at > now,
        )
        .values(ends_at=now)
        .returning(MaintenanceWindow.id)
        .execution_options(synchronize_session=False)
    ).first()
    if ended is not None:
        return True
    cancelled = session.execute(
        delete(MaintenanceWindow)
        .where(MaintenanceWindow.id == window_id, MaintenanceWindow.starts_at >= now)
        .returning(MaintenanceWindow.id)
        .execution_options(synchronize_session=False)
    ).first()
    return cancelled is not None


def current_windows(session: Db, *, now: datetime) -> list[tuple[MaintenanceWindow, str]]:
    """Running and upcoming windows with the site's name ('' for the whole fleet)."""
    rows = session.execute(
        select(MaintenanceWindow, Site.name)
        .outerjoin(Site, Site.id == MaintenanceWindow.site_id)
        .where(MaintenanceWindow.ends_at > now)
        .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
    ).all()
    return [(window, name or "") for window, name in rows]
