"""The fleet side of the embedded demo: operator, history, and a simulated dispenser."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import demo
from backend import create_app
from backend.extensions import db
from backend.models import Alert, DeviceEvent, Operator
from demo.command import _start_fleet_demo
from demo.fleet import (
    DEMO_ADMIN_EMAIL,
    DEMO_TOTP_SECRET,
    LOBBY_METHODS,
    SimulatedDispenser,
    ensure_demo_admin,
    seed_history,
)
from tests.conftest import app_config
from tests.factories import enrollment_code, make_dispenser, make_site, now


def test_demo_admin_is_made_once_with_the_printed_secret(app: Flask) -> None:
    ensure_demo_admin(now())
    ensure_demo_admin(now())
    admin = db.session.query(Operator).filter_by(email=DEMO_ADMIN_EMAIL).one()
    assert admin.totp_secret == DEMO_TOTP_SECRET and admin.role == "admin"


def test_no_demo_operator_in_production(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "FAIRROLL_ENV", "production")
    lines = _start_fleet_demo(make_dispenser(make_site()), simulate=False, tick=1)
    assert "no demo operator" in lines[0]
    assert db.session.query(Operator).count() == 0


def test_history_is_seeded_once(app: Flask) -> None:
    dispenser = make_dispenser(make_site())
    first = seed_history([(dispenser, LOBBY_METHODS)], now())
    assert first > 100
    assert seed_history([(dispenser, LOBBY_METHODS)], now()) == 0
    oldest = db.session.query(DeviceEvent.occurred_at).order_by(DeviceEvent.occurred_at).first()
    assert oldest is not None and oldest[0] > now() - timedelta(days=6, hours=1)


def test_the_simulated_dispenser_raises_and_clears_the_low_paper_alert(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    sim = SimulatedDispenser(app, enrollment_code(dispenser), LOBBY_METHODS, tick=0, seed=1)
    enrolled = client.post("/api/v1/device/enroll", json={"enrollment_code": sim.code})
    headers = {"Authorization": f"Bearer {enrolled.get_json()['device_key']}"}
    sim.level = 30
    kinds_seen: set[str] = set()
    refilled = False
    for _ in range(40):
        assert sim._step(client, headers)
        open_kinds = {a.kind for a in db.session.query(Alert).filter_by(is_open=True)}
        kinds_seen |= open_kinds
        if kinds_seen >= {"low_paper", "empty"} and sim.level == 100:
            refilled = True
            assert open_kinds == set()
            break
    assert refilled, kinds_seen
    assert db.session.query(DeviceEvent).filter_by(dispenser_id=dispenser.id).count() > 5


def test_the_demo_site_offers_face_mode(app: Flask) -> None:
    """`make run`'s dispenser hangs outside the toilet rooms, so its site offers face mode."""
    from demo.command import ensure_demo

    dispenser, code = ensure_demo(now())
    assert dispenser.site.face_mode_allowed and code


def test_the_demo_command_is_registered_only_outside_production(tmp_path: Path) -> None:
    config = app_config(f"sqlite:///{tmp_path / 'demo.db'}", tmp_path / "keys")
    development = create_app(config)
    assert "demo" not in development.cli.commands  # the backend alone has no demo
    assert demo.init_app(development) and "demo" in development.cli.commands
    production = create_app({**config, "FAIRROLL_ENV": "production"})
    assert not demo.init_app(production) and "demo" not in production.cli.commands


def test_the_image_ships_no_demo() -> None:
    dockerfile = (Path(__file__).parents[2] / "Dockerfile").read_text()
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert "demo" not in copied and "." not in copied
