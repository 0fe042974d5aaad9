"""Operator commands and configuration errors."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from backend.config import ConfigError, database_url, load_config
from backend.extensions import db
from backend.models import AccessToken, DailySecret, DeviceEvent, Dispenser, SigningKey
from backend.services.purge import purge_expired
from tests.factories import make_dispenser, make_site, now


def test_sites_and_dispensers_commands(app: Flask, runner: FlaskCliRunner) -> None:
    created = runner.invoke(
        args=["sites", "create", "North Gate", "--timezone", "Asia/Shanghai", "--window", "420"]
    )
    assert created.exit_code == 0, created.output
    result = runner.invoke(args=["dispensers", "create", "North Gate", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert db.session.query(Dispenser).filter_by(public_id=body["public_id"]).one()
    assert len(body["enrollment_code"]) == 14
    again = runner.invoke(args=["dispensers", "enroll-code", body["public_id"]])
    assert again.exit_code == 0 and "Enrollment code" in again.output


def test_commands_explain_bad_input(app: Flask, runner: FlaskCliRunner) -> None:
    assert (
        "unknown timezone"
        in runner.invoke(args=["sites", "create", "X", "--timezone", "Mars/Base"]).output
    )
    assert "no site named" in runner.invoke(args=["dispensers", "create", "Nowhere"]).output
    runner.invoke(args=["sites", "create", "Dup"])
    assert "already exists" in runner.invoke(args=["sites", "create", "Dup"]).output
    assert "window_seconds" in runner.invoke(args=["sites", "create", "Y", "--window", "-5"]).output


def test_keys_rotate_records_metadata(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    roles = sorted(k.role for k in db.session.query(SigningKey))
    assert roles[:2] == ["current", "previous"]


def test_purge_deletes_only_what_is_past_retention(app: Flask) -> None:
    dispenser = make_dispenser(make_site())
    current = now()
    old, fresh = current - timedelta(days=8), current - timedelta(days=1)
    for i, moment in enumerate((old, fresh)):
        db.session.add(
            AccessToken(
                token_ref=f"{i}" * 64,
                dispenser_id=dispenser.id,
                site_id=dispenser.site_id,
                key_id="00000000",
                code_hash="h",
                issued_at=moment,
                expires_at=moment + timedelta(minutes=2),
            )
        )
        db.session.add(
            DeviceEvent(
                dispenser_id=dispenser.id,
                event_id=f"{i}" * 32,
                kind="dispense",
                method="face",
                occurred_at=moment,
                received_at=moment,
            )
        )
        db.session.add(DailySecret(day=moment.date(), secret=b"s" * 32, created_at=moment))
    db.session.flush()
    result = purge_expired(db.session, now=current, retention=timedelta(days=7))
    assert result.counts["access_token"] == 1 and result.counts["device_event"] == 1
    assert result.counts["daily_secret"] == 1
    assert db.session.query(AccessToken).count() == 1
    assert db.session.query(DeviceEvent).one().occurred_at == fresh


def test_config_errors_name_the_setting(tmp_path: Path) -> None:
    for env, fragment in [
        ({"FAIRROLL_TOKEN_TTL_SECONDS": "soon"}, "FAIRROLL_TOKEN_TTL_SECONDS"),
        ({"FAIRROLL_TOKEN_TTL_SECONDS": "3"}, "at least 10"),
        ({"FAIRROLL_COOKIE_SECURE": "maybe"}, "true or false"),
        ({"FAIRROLL_SIGNING_KEY_BACKEND": "vault"}, "one of"),
        ({"FAIRROLL_ENV": "production"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "at least 32"),
        ({"DATABASE_URL": "mysql://x"}, "postgresql"),
        ({"DB_HOST": "db"}, "DB_USER and DB_PASSWORD"),
        ({"FAIRROLL_DB_OUTAGE_GRACE_SECONDS": "20"}, "at least twice FAIRROLL_DB_PROBE"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            load_config(env, tmp_path)


def test_database_url_forms(tmp_path: Path) -> None:
    assert database_url({"DATABASE_URL": "postgres://u:p@h/d"}, tmp_path) == (
        "postgresql+psycopg://u:p@h/d"
    )
    pieces = {
        "DB_HOST": "db.internal",
        "DB_USER": "app",
        "DB_PASSWORD": "p@ss/word",
        "DB_NAME": "fr",
    }
    assert database_url(pieces, tmp_path) == (
        "postgresql+psycopg://app:p%40ss%2Fword@db.internal:5432/fr"
    )
    assert database_url({}, tmp_path).startswith("sqlite:///")
