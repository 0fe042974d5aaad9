"""OpenAPI matches the routes; health endpoints; a database that went away gets 503."""

from __future__ import annotations

import re
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from backend import create_app
from backend.extensions import db
from tests.conftest import app_config, fresh_postgres_database, stop_database_probe


def test_openapi_documents_exactly_the_json_routes(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                routed.add((path, method))
    assert documented == routed


def test_health_endpoints(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["database"] == "ok"


def test_once_the_database_was_reached_its_outage_fails_no_load_balancer_check(
    tmp_path: Path,
) -> None:
    """A failover would otherwise fail every task's checks at once and have them all
    replaced; staying, they answer 503 meanwhile and serve again as soon as it is back."""
    with fresh_postgres_database() as url:
        app = create_app(app_config(url, tmp_path, FAIRROLL_DB_CONNECT_TIMEOUT_SECONDS=2))
        client = app.test_client()
        assert client.get("/startedz").status_code == 200
        assert client.get("/readyz").status_code == 200
    # The database is dropped, the app's connections ended with it: an outage.
    assert client.get("/readyz").status_code == 503
    assert client.get("/startedz").get_json() == {"status": "ok"}  # within the grace
    stop_database_probe(app)
    with app.app_context():
        db.engine.dispose()


def test_a_task_that_stays_cut_off_past_the_grace_leaves_the_load_balancer(
    tmp_path: Path,
) -> None:
    """A network fault of its own: the others serve, this one must be replaced."""
    with fresh_postgres_database() as url:
        app = create_app(
            app_config(
                url,
                tmp_path,
                FAIRROLL_DB_CONNECT_TIMEOUT_SECONDS=2,
                FAIRROLL_DB_PROBE_SECONDS=1,
                FAIRROLL_DB_OUTAGE_GRACE_SECONDS=2,
            )
        )
        client = app.test_client()
        assert client.get("/startedz").status_code == 200
    try:
        deadline = time.monotonic() + 30
        while (answer := client.get("/startedz")).status_code == 200:
            assert time.monotonic() < deadline, "still healthy long after the grace"
            time.sleep(0.5)
        assert answer.status_code == 503
        assert answer.get_json()["error"]["code"] == "database_unavailable"
    finally:
        stop_database_probe(app)
        with app.app_context():
            db.engine.dispose()


def test_database_gone_answers_503_json_not_500(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens there, so every connection is refused.
    url = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"
    app = create_app(app_config(url, tmp_path))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert client.get("/startedz").status_code == 503  # never reached: no traffic for it
    issued = client.post("/api/v1/dispensers/aaaaaaaaaa/tokens")
    assert issued.status_code == 503
    assert issued.get_json()["error"]["code"] == "database_unavailable"
    assert issued.headers["Retry-After"]
    config = client.get("/api/v1/device/config", headers={"Authorization": "Bearer k"})
    assert config.status_code == 503
    stop_database_probe(app)
