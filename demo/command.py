"""`flask demo`: the embedded demo a newcomer starts with `make run`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import run_simple

from backend.extensions import db
from backend.models import Dispenser, Site
from backend.services.keys import sync_signing_keys
from backend.services.sites import SitePolicy, create_dispenser, create_site, issue_enrollment_code
from backend.signing import key_ring
from protocol.clock import utcnow

DEMO_SITE = "Demo Park East Toilets"


def ensure_demo(now: datetime) -> tuple[Dispenser, str]:
    """Create the demo site and dispenser if missing; return it and a fresh enrollment code."""
    site = db.session.scalar(select(Site).where(Site.name == DEMO_SITE))
    if site is None:
        site = create_site(
            db.session,
            DEMO_SITE,
            now=now,
            timezone="Asia/Shanghai",
            # Its dispenser hangs in the entrance lobby, outside the toilet rooms, so the
            # site may offer face mode (never inside a restroom: docs/face.md).
            policy=SitePolicy(window_seconds=540, daily_cap=8, face_mode_allowed=True),
            contact="privacy@city.example",
        )
    dispenser = db.session.scalar(select(Dispenser).where(Dispenser.site_id == site.id))
    if dispenser is None:
        dispenser = create_dispenser(db.session, site, now=now, label="Lobby, left of the sinks")
    code = issue_enrollment_code(db.session, dispenser, now=now, ttl=timedelta(hours=24))
    sync_signing_keys(db.session, key_ring(current_app), now=now)
    db.session.commit()
    return dispenser, code


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=int,
    default=lambda: int(os.environ.get("PORT", "5000")),
    help="Port to serve on (default: $PORT or 5000).",
)
@click.option(
    "--simulated-dispenser/--no-simulated-dispenser",
    default=True,
    show_default=True,
    help="Also run a simulated dispenser (python -m device simulate) enrolled as the demo one.",
)
@click.option("--kiosk-port", type=int, default=8765, show_default=True)
@click.option(
    "--simulate-fleet/--no-simulate-fleet",
    default=True,
    show_default=True,
    help="Simulate the entrance dispenser in-process (its paper runs low, alerts come and go).",
)
@click.option("--sim-seconds", type=float, default=5.0, show_default=True, help="Simulation tick.")
@with_appcontext
def demo(
    host: str,
    port: int,
    simulated_dispenser: bool,
    kiosk_port: int,
    simulate_fleet: bool,
    sim_seconds: float,
) -> None:
    """Migrate the database, create the demo site and dispenser, and serve the backend."""
    # Only the lines a person needs: warnings and errors, no migration chatter (Alembic's
    # env.py leaves logging alone once the root logger has a handler).
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    upgrade()
    dispenser, code = ensure_demo(utcnow())
    public_id = dispenser.public_id
    # The lobby dispenser is simulated in-process only when the device program is not.
    simulated = [] if simulated_dispenser else [dispenser]
    fleet_lines = _start_fleet_demo(
        dispenser, simulate=simulated if simulate_fleet else None, tick=sim_seconds
    )
    # Release this command's session: on SQLite an open transaction holds the write lock.
    db.session.remove()
    base = f"http://{host}:{port}"
    database = current_app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1]
    click.echo(f"fairroll demo: database {database}")
    click.echo(f"Visitor page of the demo dispenser: {base}/d/{public_id}")
    click.echo(f"Enrollment code for it (one use, 24 h): {code}")
    click.echo(f"Health: {base}/healthz   API description: {base}/api/v1/openapi.json")
    for line in fleet_lines:
        click.echo(line.replace("{base}", base))
    device = _start_simulated_dispenser(base, code, kiosk_port) if simulated_dispenser else None
    # SIGTERM (from `timeout`, systemd or a test) must run the `finally` below like Ctrl-C
    # does, or the simulated dispenser would outlive the demo.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        # Flask refuses app.run() inside its own CLI, so serve with Werkzeug directly.
        run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]
    finally:
        if device is not None:
            device.terminate()
            device.wait(timeout=10)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _start_simulated_dispenser(base: str, code: str, kiosk_port: int) -> subprocess.Popen[bytes]:
    """Run the device program's simulator as a separate process (it never imports Flask)."""
    state_dir = Path(current_app.instance_path) / "simulated-dispenser"
    if os.environ.get("FAIRROLL_INSTANCE_PATH"):
        state_dir = Path(os.environ["FAIRROLL_INSTANCE_PATH"]) / "simulated-dispenser"
    command = [
        sys.executable, "-m", "device", "--quiet", "simulate", "--server", base, "--code", code,
        "--state-dir", str(state_dir), "--port", str(kiosk_port),
    ]  # fmt: skip
    # The device program prints its kiosk screen's URL itself, once it serves it.
    return subprocess.Popen(command)  # noqa: S603 - our own program, fixed arguments


def _start_fleet_demo(
    lobby: Dispenser, *, simulate: list[Dispenser] | None, tick: float
) -> list[str]:
    """The demo operator, a second (entrance) site, history, simulation and periodic jobs."""
    from backend.jobs import BackgroundJobs
    from demo import fleet as demo_fleet

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["FAIRROLL_ENV"] == "production":
        return ["FAIRROLL_ENV=production: no demo operator is created (use `users create-admin`)."]
    now = utcnow()
    demo_fleet.ensure_demo_admin(now)
    entrance = demo_fleet.ensure_entrance_dispenser(now)
    demo_fleet.ensure_baselines([lobby.site, entrance.site])
    demo_fleet.seed_history(
        [(lobby, demo_fleet.LOBBY_METHODS), (entrance, demo_fleet.ENTRANCE_METHODS)], now
    )
    if simulate is not None:
        for dispenser in [*simulate, entrance]:
            demo_fleet.start_simulation(app, dispenser, tick=tick, now=now)
    BackgroundJobs(app, check_every=30).start()
    uri = f"otpauth://totp/fairroll:{demo_fleet.DEMO_ADMIN_EMAIL}?secret={demo_fleet.DEMO_TOTP_SECRET}"
    return [
        "Admin UI (embedded demo credentials, never for production): {base}/admin/",
        f"  e-mail {demo_fleet.DEMO_ADMIN_EMAIL}  password {demo_fleet.DEMO_ADMIN_PASSWORD}",
        f"  two-factor: add {uri} to an authenticator app,",
        f'  or print the current code: .venv/bin/python -c "import pyotp; '
        f"print(pyotp.TOTP('{demo_fleet.DEMO_TOTP_SECRET}').now())\"",
        "Simulated entrance dispenser: its paper runs down every few seconds; watch the "
        "low-paper alert appear and clear."
        if simulate is not None
        else "Fleet simulation off (--no-simulate-fleet).",
        "Background jobs: alert check every 30 s, purge daily.",
    ]
