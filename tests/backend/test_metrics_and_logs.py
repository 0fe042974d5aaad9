"""The Prometheus endpoint, request ids and JSON log lines."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.logs import JsonFormatter
from backend.models import DeviceEvent
from tests.factories import make_dispenser, make_site, now

# One sample line of the text exposition format: name{labels} value
SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="(?:[^"\\\n]|\\.)*",?)*\})? -?[0-9.e+]+$')


def test_metrics_are_prometheus_text_with_aggregates_only(app: Flask, client: FlaskClient) -> None:
    site = make_site('Park "East"')
    dispenser = make_dispenser(site, paper_level=5, status="low", last_heartbeat_at=now())
    db.session.add(
        DeviceEvent(
            dispenser_id=dispenser.id,
            event_id=uuid.uuid4().hex,
            kind="dispense",
            method="face",
            occurred_at=now(),
            received_at=now(),
        )
    )
    db.session.commit()
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), line
    assert 'fairroll_dispensers{site="Park \\"East\\"",state="low"} 1' in text
    assert 'fairroll_dispensers_low_paper{site="Park \\"East\\""} 1' in text
    assert 'fairroll_events_total{method="face",kind="dispense"} 1' in text
    assert 'fairroll_open_alerts{site="Park \\"East\\"",kind="low_paper"}' not in text
    assert dispenser.public_id not in text  # never one series per dispenser
    assert "# TYPE fairroll_events_total counter" in text
    assert re.search(r'fairroll_http_responses_total\{area="other",code="2xx"\} [1-9]', text)


def test_metrics_can_require_a_token(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "FAIRROLL_METRICS_TOKEN", "scrape-secret")
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert ok.status_code == 200


def test_every_response_carries_a_request_id(client: FlaskClient) -> None:
    fresh = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", fresh.headers["X-Request-Id"])
    given = client.get("/healthz", headers={"X-Request-Id": "lb-trace-12345"})
    assert given.headers["X-Request-Id"] == "lb-trace-12345"
    junk = client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert junk.headers["X-Request-Id"] != "<script>"


def test_json_log_lines_carry_the_request_id(app: Flask) -> None:
    formatter = JsonFormatter()
    with app.test_request_context("/admin/"):
        from flask import g

        g.request_id = "abc123def456"
        record = logging.LogRecord("fairroll.x", logging.INFO, "", 0, "hello %s", ("you",), None)
        record.status = 200
        line = json.loads(formatter.format(record))
    assert line["message"] == "hello you"
    assert line["request_id"] == "abc123def456"
    assert line["status"] == 200 and line["level"] == "INFO"


def test_access_lines_never_include_the_query_string(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="fairroll.access"):
        client.get("/healthz?p=123456")
    assert "GET /healthz 200" in caplog.text
    assert "123456" not in caplog.text
