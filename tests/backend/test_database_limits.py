"""How long the web server lets PostgreSQL keep a request: a connect timeout always, and a
statement and a lock timeout in the web server (backend/gunicorn_conf.py), so a request
stuck behind a lock answers 503 + Retry-After and frees its thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from flask import Flask

from backend import TCP_SETTINGS, create_app
from backend.extensions import db
from tests.conftest import TEST_SECRET, app_config
from tests.device.backend_process import ROOT, free_port
from tests.factories import auth, enroll, make_dispenser, make_site

BEAT = {"paper_level": 70, "status": "ok"}


def test_postgresql_connections_get_the_limits_and_sqlite_none(tmp_path: Path) -> None:
    limits = {"FAIRROLL_DB_STATEMENT_TIMEOUT_MS": 10_000, "FAIRROLL_DB_LOCK_TIMEOUT_MS": 3_000}
    url = "postgresql+psycopg://fairroll@db.invalid/fairroll"  # never connected to here
    options = create_app(app_config(url, tmp_path, **limits)).config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {
        "connect_timeout": 10,
        "options": "-c statement_timeout=10000 -c lock_timeout=3000",
        **TCP_SETTINGS,
    }
    assert options["hide_parameters"] is True  # the other engine options stay
    unlimited = create_app(app_config(url, tmp_path)).config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert unlimited["connect_args"] == {"connect_timeout": 10, **TCP_SETTINGS}  # jobs
    sqlite = create_app(app_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, **limits))
    assert "connect_args" not in sqlite.config["SQLALCHEMY_ENGINE_OPTIONS"]


def test_the_web_server_sets_the_limits_unless_the_environment_does() -> None:
    from backend import gunicorn_conf

    assert gunicorn_conf.raw_env == [
        f"{name}={os.environ.get(name, value)}"
        for name, value in gunicorn_conf.WEB_DATABASE_LIMITS.items()
    ]
    assert int(gunicorn_conf.WEB_DATABASE_LIMITS["FAIRROLL_DB_LOCK_TIMEOUT_MS"]) > 0
    assert int(gunicorn_conf.WEB_DATABASE_LIMITS["FAIRROLL_DB_STATEMENT_TIMEOUT_MS"]) > 0


def test_postgresql_connections_are_made_with_the_tcp_settings(postgres_app: Flask) -> None:
    with postgres_app.app_context(), db.engine.connect() as connection:
        given = connection.connection.driver_connection.info.get_parameters()  # type: ignore[union-attr]
    assert {name: given.get(name) for name in TCP_SETTINGS} == {
        name: str(value) for name, value in TCP_SETTINGS.items()
    }


@contextmanager
def _dispenser_row_locked(app: Flask, public_id: str) -> Iterator[None]:
    """Another connection holds the dispenser's row lock (as a long job or migration may)."""
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as other:
        other.execute("SELECT id FROM dispenser WHERE public_id = %s FOR UPDATE", (public_id,))
        yield
        other.rollback()


def _enrolled(app: Flask) -> tuple[str, str]:
    client = app.test_client()
    with app.app_context():
        dispenser = make_dispenser(make_site())
        return dispenser.public_id, enroll(client, dispenser)["device_key"]


def test_a_request_stuck_behind_a_lock_answers_503_within_the_lock_timeout(
    committing_postgres_app: Flask, postgres_url: str, tmp_path: Path
) -> None:
    public_id, key = _enrolled(committing_postgres_app)
    limited = create_app(
        app_config(postgres_url, tmp_path, FAIRROLL_DB_LOCK_TIMEOUT_MS=300)
    ).test_client()
    try:
        with _dispenser_row_locked(committing_postgres_app, public_id):
            started = time.monotonic()
            stuck = limited.post("/api/v1/device/heartbeat", json=BEAT, headers=auth(key))
            waited = time.monotonic() - started
        assert stuck.status_code == 503
        assert stuck.get_json()["error"]["code"] == "database_unavailable"
        assert stuck.headers["Retry-After"] == "5"  # the dispenser comes back, nothing lost
        assert 0.25 < waited < 5  # the lock timeout, not the lock's whole life
        again = limited.post("/api/v1/device/heartbeat", json=BEAT, headers=auth(key))
        assert again.status_code == 200  # the connection went back usable
    finally:
        with limited.application.app_context():
            db.engine.dispose()


@pytest.mark.slow
def test_the_production_server_applies_its_lock_timeout(
    committing_postgres_app: Flask, postgres_url: str, tmp_path: Path
) -> None:
    """gunicorn with backend/gunicorn_conf.py and nothing set in the environment."""
    from backend import gunicorn_conf

    public_id, key = _enrolled(committing_postgres_app)
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("FAIRROLL_DB_")}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=postgres_url,
        SECRET_KEY=TEST_SECRET,
        FAIRROLL_INSTANCE_PATH=str(tmp_path),
        FAIRROLL_SIGNING_KEY_DIR=str(committing_postgres_app.config["FAIRROLL_SIGNING_KEY_DIR"]),
        FAIRROLL_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
    )
    command = [sys.executable, "-m", "gunicorn", "--config", "python:backend.gunicorn_conf"]
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - fixed command
            [*command, "app:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_up(port)
        with _dispenser_row_locked(committing_postgres_app, public_id):
            started = time.monotonic()
            status, headers = _heartbeat(port, key)
            waited = time.monotonic() - started
        assert status == 503 and headers["Retry-After"] == "5"
        limit = int(gunicorn_conf.WEB_DATABASE_LIMITS["FAIRROLL_DB_LOCK_TIMEOUT_MS"]) / 1000
        assert limit - 0.1 < waited < limit + 3  # its lock timeout, then the answer
        assert _heartbeat(port, key)[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer")


def _heartbeat(port: int, key: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/device/heartbeat",
        data=b'{"paper_level": 70, "status": "ok"}',
        headers={**auth(key), "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)
