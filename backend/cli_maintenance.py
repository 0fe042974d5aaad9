"""`flask maintenance ...`: windows during which incidents page nobody (restore drills)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from flask.cli import AppGroup

from backend.errors import DomainError
from backend.extensions import db
from backend.services.audit import record_audit
from backend.services.maintenance import current_windows, end_window, start_window
from backend.services.sites import find_site

maintenance = AppGroup("maintenance", help="Maintenance windows: silence incident notifications.")


@maintenance.command("start")
@click.option("--minutes", type=click.IntRange(1, 7 * 24 * 60), required=True)
@click.option("--site", default=None, help="Site name or id (default: the whole fleet).")
@click.option("--reason", required=True, help="What is being done, for the audit log.")
def maintenance_start(minutes: int, site: str | None, reason: str) -> None:
    """Silence incident notifications from now for MINUTES (one site or the whole fleet)."""
    now = datetime.now(UTC)
    try:
        found = find_site(db.session, site) if site else None
        window = start_window(
            db.session,
            site=found,
            starts_at=now,
            ends_at=now + timedelta(minutes=minutes),
            reason=reason,
            created_by="cli",
            now=now,
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    scope = found.name if found else "the whole fleet"
    record_audit(db.session, "cli", "maintenance_started", now=now, target=scope, reason=reason)
    db.session.commit()
    click.echo(f"Window {window.id}: {scope} silenced until {window.ends_at:%Y-%m-%d %H:%M} UTC")


@maintenance.command("end")
@click.argument("window_id", type=int)
def maintenance_end(window_id: int) -> None:
    """End window WINDOW_ID now (notifications resume with the next check)."""
    now = datetime.now(UTC)
    if not end_window(db.session, window_id, now=now):
        db.session.rollback()
        raise click.ClickException(f"no running or upcoming window {window_id}")
    record_audit(db.session, "cli", "maintenance_ended", now=now, target=str(window_id))
    db.session.commit()
    click.echo(f"Window {window_id} ended.")


@maintenance.command("list")
def maintenance_list() -> None:
    """Running and upcoming windows."""
    for window, site in current_windows(db.session, now=datetime.now(UTC)):
        click.echo(
            f"{window.id}\t{site or '(whole fleet)'}\t{window.starts_at:%Y-%m-%d %H:%M}"
            f"\t{window.ends_at:%Y-%m-%d %H:%M}\t{window.reason}"
        )
