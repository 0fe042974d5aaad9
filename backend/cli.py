"""Operator commands: `flask --app app <group> <command>`."""

from __future__ import annotations

import json
import secrets
import sys
from datetime import date, datetime, timedelta
from typing import Any

import click
from botocore.exceptions import ClientError
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Dispenser, Operator, Site
from backend.operator_files import write_secret
from backend.services.audit import record_audit
from backend.services.bulk_enrollment import enroll_rows, parse_enrollment_csv
from backend.services.keys import sync_signing_keys
from backend.services.operators import create_operator
from backend.services.purge import purge_expired
from backend.services.sites import (
    DEFAULT_MIN_INTERVAL_SECONDS,
    SitePolicy,
    create_dispenser,
    create_site,
    find_dispenser,
    find_site,
    issue_enrollment_code,
)
from backend.signing import CachedKeyRing, KeyStoreError
from protocol.clock import utcnow

sites = AppGroup("sites", help="Create and list sites.")
dispensers = AppGroup("dispensers", help="Create and list dispensers, issue enrollment codes.")
keys = AppGroup("keys", help="Token signing keys.")


def _enrollment_ttl() -> timedelta:
    return timedelta(hours=current_app.config["FAIRROLL_ENROLLMENT_TTL_HOURS"])


def _fail(error: DomainError) -> click.ClickException:
    db.session.rollback()
    return click.ClickException(error.message)


@sites.command("create")
@click.argument("name")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone of the site.")
@click.option(
    "--window",
    "window_seconds",
    type=int,
    default=540,
    show_default=True,
    help="Seconds between portions for one visitor, across the whole site.",
)
@click.option("--daily-cap", type=int, default=8, show_default=True)
@click.option("--portion-cm", type=int, default=60, show_default=True)
@click.option(
    "--min-interval",
    "min_interval_seconds",
    type=int,
    default=DEFAULT_MIN_INTERVAL_SECONDS,
    show_default=True,
    help="Seconds between portions at one dispenser (anti-hoarding).",
)
@click.option("--presence/--no-presence", "presence_required", default=False)
@click.option("--contact", default="", help="Whom visitors may contact about their data.")
def sites_create(name: str, timezone: str, contact: str, **policy: Any) -> None:
    """Create a site with its rationing policy."""
    try:
        site = create_site(
            db.session,
            name,
            now=utcnow(),
            timezone=timezone,
            contact=contact,
            policy=SitePolicy(**policy),
        )
    except DomainError as error:
        raise _fail(error) from None
    record_audit(db.session, "cli", "site_created", now=utcnow(), target=site.name)
    db.session.commit()
    click.echo(f"Created site {site.id}: {site.name}")


@sites.command("list")
def sites_list() -> None:
    """List sites."""
    for site in db.session.scalars(select(Site).order_by(Site.id)):
        click.echo(f"{site.id}\t{site.name}\t{site.timezone}\twindow={site.window_seconds}s")


@dispensers.command("create")
@click.argument("site")
@click.option("--label", default="", help="Where it hangs, for the operators.")
@click.option("--unrestricted", is_flag=True, help="Accessible stall: no rationing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def dispensers_create(site: str, label: str, unrestricted: bool, as_json: bool) -> None:
    """Create a dispenser at SITE (name or id); print its id and an enrollment code."""
    now = utcnow()
    try:
        dispenser = create_dispenser(
            db.session, find_site(db.session, site), now=now, label=label, unrestricted=unrestricted
        )
        code = issue_enrollment_code(db.session, dispenser, now=now, ttl=_enrollment_ttl())
    except DomainError as error:
        raise _fail(error) from None
    record_audit(db.session, "cli", "dispenser_created", now=now, target=dispenser.public_id)
    db.session.commit()
    _print_enrollment(dispenser, code, as_json)


@dispensers.command("enroll-code")
@click.argument("public_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def dispensers_enroll_code(public_id: str, as_json: bool) -> None:
    """Issue a fresh one-time enrollment code for dispenser PUBLIC_ID."""
    try:
        dispenser = find_dispenser(db.session, public_id)
        code = issue_enrollment_code(db.session, dispenser, now=utcnow(), ttl=_enrollment_ttl())
    except DomainError as error:
        raise _fail(error) from None
    record_audit(
        db.session, "cli", "enrollment_code_issued", now=utcnow(), target=dispenser.public_id
    )
    db.session.commit()
    _print_enrollment(dispenser, code, as_json)


def _print_enrollment(dispenser: Dispenser, code: str, as_json: bool) -> None:
    expires = utcnow() + _enrollment_ttl()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "public_id": dispenser.public_id,
                    "enrollment_code": code,
                    "expires_at": expires.isoformat(),
                }
            )
        )
    else:
        click.echo(
            f"Dispenser {dispenser.public_id}\nEnrollment code: {code} "
            f"(one use, until {expires:%Y-%m-%d %H:%M} UTC)"
        )


@dispensers.command("list")
def dispensers_list() -> None:
    """List dispensers with their state."""
    for d in db.session.scalars(select(Dispenser).order_by(Dispenser.id)):
        seen = d.last_heartbeat_at.isoformat(timespec="seconds") if d.last_heartbeat_at else "never"
        click.echo(f"{d.public_id}\t{d.site.name}\t{d.status}\tpaper={d.paper_level}\tseen={seen}")


@dispensers.command("enroll-bulk")
@click.argument("csv_source", envvar="FAIRROLL_ENROLL_CSV")
@click.argument("sheet_target", envvar="FAIRROLL_ENROLL_SHEET")
def dispensers_enroll_bulk(csv_source: str, sheet_target: str) -> None:
    """Create the dispensers listed in CSV_SOURCE (columns site,label[,unrestricted]) and
    write the printable sheet of stickers and enrollment codes to SHEET_TARGET.

    Either may be a local path or s3://bucket/key. Missing sites are created with the
    default policy. The codes go only into the sheet, never to the output.
    """
    from backend.admin.enrollment_sheet import render_enrollment_sheet
    from backend.operator_files import read_text, write_text

    base_url = current_app.config["FAIRROLL_PUBLIC_URL"]
    if not base_url:
        raise click.ClickException("set FAIRROLL_PUBLIC_URL: the stickers' QR codes point there")
    now = utcnow()
    try:
        rows = parse_enrollment_csv(read_text(current_app, csv_source))
        enrolled = enroll_rows(db.session, rows, now=now, ttl=_enrollment_ttl())
    except DomainError as error:
        raise _fail(error) from None
    except (OSError, UnicodeDecodeError, ValueError, ClientError) as error:
        raise click.ClickException(f"cannot read {csv_source}: {error}") from None
    for item in enrolled:
        record_audit(db.session, "cli", "dispenser_created", now=now, target=item.public_id)
    db.session.flush()  # every write that could fail, before the sheet is handed over
    server_url = current_app.config["FAIRROLL_DEVICE_URL"] or base_url
    sheet = render_enrollment_sheet(
        enrolled, base_url=base_url, server_url=server_url, standalone=True
    )
    # The sheet first: dispensers whose codes nobody can read are never created.
    try:
        write_text(current_app, sheet_target, sheet, content_type="text/html; charset=utf-8")
    except (OSError, ValueError, ClientError) as error:
        db.session.rollback()
        raise click.ClickException(f"cannot write {sheet_target}: {error}") from None
    db.session.commit()
    sites_count = len({item.site for item in enrolled})
    click.echo(
        f"Enrolled {len(enrolled)} dispensers at {sites_count} sites; "
        f"sheet with stickers and enrollment codes written to {sheet_target}"
    )


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new current signing key; the old one stays valid as the previous key."""
    cached: CachedKeyRing = current_app.extensions["fairroll.keys"]
    try:
        ring = cached.rotate()
    except KeyStoreError as error:
        raise click.ClickException(str(error)) from None
    sync_signing_keys(db.session, ring, now=utcnow())
    kid = ring.public_key_documents()[0]["kid"]
    record_audit(db.session, "cli", "signing_key_rotated", now=utcnow(), target=kid)
    db.session.commit()
    click.echo(f"Current signing key: {kid}")


@keys.command("show")
def keys_show() -> None:
    """Print the public keys devices accept (never the private keys)."""
    cached: CachedKeyRing = current_app.extensions["fairroll.keys"]
    try:
        ring = cached.get()
    except KeyStoreError as error:
        raise click.ClickException(str(error)) from None
    sync_signing_keys(db.session, ring, now=utcnow())
    db.session.commit()
    click.echo(json.dumps(ring.public_key_documents(), indent=2))


@click.command("purge")
@click.option("--days", type=int, default=None, help="Retention in days (default: configured).")
@click.option(
    "--export/--no-export",
    default=True,
    show_default=True,
    help="Also export yesterday's aggregates to FAIRROLL_EXPORT_BUCKET, where one is set.",
)
def purge(days: int | None, export: bool) -> None:
    """Roll raw events up into daily aggregates, then delete tokens, raw events and quota
    records past the retention period (run daily)."""
    if days is not None and days < 1:
        raise click.BadParameter("retention is at least 1 day", param_hint="--days")
    now = utcnow()
    retention = timedelta(days=days or current_app.config["FAIRROLL_RETENTION_DAYS"])
    result = purge_expired(db.session, now=now, retention=retention)
    db.session.commit()
    click.echo(" ".join(f"{table}={count}" for table, count in result.counts.items()))
    if export and current_app.config["FAIRROLL_EXPORT_BUCKET"]:
        _export(now.date() - timedelta(days=1))


def init_app(app: Flask) -> None:
    """Register the command groups on ``app``."""
    from backend.cli_maintenance import maintenance

    for command in (sites, dispensers, keys, purge, users, alerts, export, maintenance, fleet):
        app.cli.add_command(command)


# Fleet operations: operator accounts, the periodic alert check, exports.
users = AppGroup("users", help="Operator accounts of the admin UI.")
alerts = AppGroup("alerts", help="Alert checks (run every minute by a scheduler).")
export = AppGroup("export", help="Anonymised exports of aggregate counts.")
fleet = AppGroup("fleet", help="The scheduled fleet job (run every minute by a scheduler).")


@users.command("create-admin")
@click.argument("email", envvar="FAIRROLL_ADMIN_EMAIL")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--deliver-to-secret",
    "secret_id",
    envvar="FAIRROLL_HANDOFF_SECRET_ID",
    default=None,
    help="Generate the password and write it, with the authenticator URI, to this Secrets "
    "Manager secret instead of the terminal (one-off tasks, whose output is logged).",
)
def users_create_admin(email: str, password_stdin: bool, secret_id: str | None) -> None:
    """Create an admin operator; print the otpauth:// URI to enrol the authenticator."""
    if secret_id:
        password = secrets.token_urlsafe(18)
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    now = utcnow()
    try:
        created = create_operator(
            db.session, email, password, role="admin", now=now, totp_enrolled=True
        )
    except DomainError as error:
        raise _fail(error) from None
    record_audit(db.session, "cli", "operator_created", now=now, target=created.operator.email)
    db.session.flush()  # every write that could fail, before the hand-over
    if secret_id:
        # Deliver before committing: an admin nobody can sign in as is never created.
        document = {
            "email": created.operator.email,
            "password": password,
            "otpauth_uri": created.otpauth_uri,
        }
        try:
            write_secret(current_app, secret_id, document)
        except ClientError as error:
            db.session.rollback()
            raise click.ClickException(f"could not write to secret {secret_id}: {error}") from None
        db.session.commit()
        click.echo(f"Created admin {created.operator.email}.")
        click.echo(f"Password and authenticator URI written to secret {secret_id} (not logged).")
        return
    db.session.commit()
    click.echo(f"Created admin {created.operator.email}.")
    click.echo("Add this to an authenticator app (or make a QR code of it) to sign in:")
    click.echo(created.otpauth_uri)


@users.command("list")
def users_list() -> None:
    """List operator accounts."""
    for op in db.session.scalars(select(Operator).order_by(Operator.email)):
        state = "active" if op.active else "inactive"
        click.echo(f"{op.email}\t{op.role}\t{state}")


def _fleet_tick() -> None:
    from backend.fleet_job import run_fleet_job

    report = run_fleet_job(current_app, now=utcnow())
    if report is None:
        click.echo("fleet job: another run holds the lock; nothing done")
        return
    figures = report.figures
    click.echo(f"alert changes: {len(report.changes)}")
    if report.offline_held and report.intake.dropped():
        click.echo(f"offline alerts held: heard {report.intake.heard} of {report.intake.known}")
    elif report.offline_held:
        click.echo("offline alerts held: the backend was blind within the offline threshold")
    click.echo(
        f"dispensers: {figures.dispensers} offline: {figures.offline} empty: {figures.empty} "
        f"low paper: {figures.low_paper} jammed: {figures.jammed}"
    )
    click.echo(
        f"readings: {report.readings} forecasts: {report.forecasts} hours counted: {report.hours}"
    )
    click.echo(f"seconds: {report.seconds:.3f}")
    if current_app.config["FAIRROLL_CLOUDWATCH_METRICS"]:
        click.echo(f"cloudwatch data points: {report.published}")


@alerts.command("check")
def alerts_check() -> None:
    """Run the fleet job (the name the infrastructure schedules): see `fleet tick`."""
    _fleet_tick()


@fleet.command("tick")
def fleet_tick() -> None:
    """One fleet job run: offline alerts, readings, forecasts, fleet-wide metrics."""
    _fleet_tick()


@export.command("aggregates")
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="UTC day to export (default: yesterday).",
)
def export_aggregates(day: datetime | None) -> None:
    """Upload one day's aggregate counts to FAIRROLL_EXPORT_BUCKET as JSON lines."""
    if not current_app.config["FAIRROLL_EXPORT_BUCKET"]:
        raise click.ClickException("set FAIRROLL_EXPORT_BUCKET to the S3 bucket for exports")
    _export(day.date() if day else utcnow().date() - timedelta(days=1))


def _export(day: date) -> None:
    from backend.aws import client
    from backend.export import export_day

    bucket = current_app.config["FAIRROLL_EXPORT_BUCKET"]
    try:
        key, rows = export_day(client("s3"), bucket, db.session, day)
    except ClientError as error:
        raise click.ClickException(f"export to s3://{bucket} failed: {error}") from None
    finally:
        db.session.rollback()
    click.echo(f"exported {rows} rows to s3://{bucket}/{key}")
