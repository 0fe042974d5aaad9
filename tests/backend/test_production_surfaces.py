"""Production surfaces: /metrics behind a bearer token and counted by the database,
security headers on every response."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from backend.alerting import alert_settings
from backend.config import ConfigError, load_config
from backend.extensions import db
from backend.models import Dispenser
from backend.security_headers import HSTS
from backend.services.fleet import dispenser_state
from tests.backend.fleet_helpers import make_operator, sign_in
from tests.factories import auth, enroll, make_dispenser, make_site, now

TOKEN = "m" * 40


def test_production_metrics_refuse_everyone_until_a_token_is_set(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "FAIRROLL_ENV", "production")
    monkeypatch.setitem(app.config, "FAIRROLL_METRICS_TOKEN", "")
    refused = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert refused.status_code == 401
    assert "FAIRROLL_METRICS_TOKEN" in refused.get_data(as_text=True)
    monkeypatch.setitem(app.config, "FAIRROLL_METRICS_TOKEN", TOKEN)
    assert client.get("/metrics").status_code == 401
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
    )
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_short_metrics_token_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FAIRROLL_METRICS_TOKEN"):
        load_config({"FAIRROLL_METRICS_TOKEN": "short"}, tmp_path)
    assert load_config({"FAIRROLL_METRICS_TOKEN": TOKEN}, tmp_path)["FAIRROLL_METRICS_TOKEN"]


def test_metrics_count_dispensers_in_the_database_not_row_by_row(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site("Counted Park")
    moment = now()
    long_ago = moment - timedelta(hours=2)
    for _ in range(7):
        make_dispenser(site, status="ok", last_heartbeat_at=moment, paper_level=90)
    for _ in range(5):
        make_dispenser(site, status="low", last_heartbeat_at=moment, paper_level=10)
    for _ in range(4):
        make_dispenser(site, status="ok", last_heartbeat_at=long_ago)
    for _ in range(3):
        make_dispenser(site, enabled=False, paper_level=5)
    for _ in range(2):
        make_dispenser(site)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        text = client.get("/metrics").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    dispenser_reads = [s for s in statements if re.search(r"FROM dispenser\b", s)]
    assert dispenser_reads, statements
    assert all("GROUP BY" in s or "count(" in s for s in dispenser_reads), dispenser_reads
    # The database's counts are the ones dispenser_state() gives row by row.
    settings = alert_settings(app)
    expected = Counter(
        dispenser_state(d, settings, now=now())
        for d in db.session.scalars(select(Dispenser).where(Dispenser.site_id == site.id))
    )
    assert expected == {"ok": 7, "low": 5, "offline": 4, "disabled": 3, "new": 2}
    for state, count in expected.items():
        assert f'fairroll_dispensers{{site="Counted Park",state="{state}"}} {count}' in text
    assert 'fairroll_dispensers_low_paper{site="Counted Park"} 5' in text


def _responses(app: Flask, client: FlaskClient) -> dict[str, object]:
    dispenser = make_dispenser(make_site("Headers Park"))
    key = enroll(client, dispenser)["device_key"]
    sign_in(client, make_operator())
    return {
        "API JSON": client.get("/api/v1/device/config", headers=auth(key)),
        "API error": client.post("/api/v1/device/heartbeat", json={"status": "x"}),
        "API 404": client.get("/api/v1/nothing"),
        "API 405": client.get("/api/v1/device/heartbeat"),
        "API 413": client.post("/api/v1/device/events", data=b"x" * (1 << 20)),
        "OpenAPI": client.get("/api/v1/openapi.json"),
        "static": client.get("/admin/static/admin.css"),
        "metrics": client.get("/metrics"),
        "health": client.get("/healthz"),
        "visitor page": client.get(f"/d/{dispenser.public_id}"),
        "admin page": client.get("/admin/"),
        "HTML 404": client.get("/nothing/here", headers={"Accept": "text/html"}),
        "HTML 400": client.get("/admin/?site=%00", headers={"Accept": "text/html"}),
    }


def test_every_kind_of_response_carries_hsts_and_the_security_headers(
    app: Flask, client: FlaskClient
) -> None:
    for name, response in _responses(app, client).items():
        headers = response.headers  # type: ignore[attr-defined]
        assert headers.get("Strict-Transport-Security") == HSTS, name
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("X-Frame-Options") == "DENY", name
        assert headers.get("Referrer-Policy") == "no-referrer", name
        assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), name
        response.close()  # type: ignore[attr-defined]
