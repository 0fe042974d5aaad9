"""Metrics: a Prometheus endpoint (/metrics) and fleet-wide CloudWatch metrics.

CloudWatch receives a small fixed set of fleet-wide figures, published only by the
scheduled fleet job (backend.fleet_job): never per dispenser or per site (each custom
metric costs money every month, and a city has thousands of both).
"""

from __future__ import annotations

import hmac
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, request

from backend.extensions import db
from backend.services.fleet import SiteTotals, event_totals, site_totals
from backend.wiring import alert_settings
from protocol.clock import utcnow
from protocol.events import EVENT_METHODS

if TYPE_CHECKING:
    from backend.fleet_job import FleetJobReport

bp = Blueprint("metrics", __name__)
NAMESPACE = "fairroll"


class RequestCounter:
    """HTTP responses served by this process, by area and status class."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, area: str, status: int) -> None:
        """Count one response."""
        with self._lock:
            self._counts[(area, f"{status // 100}xx")] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        """A copy of the counts."""
        with self._lock:
            return dict(self._counts)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
    return f"{name}{{{inner}}} {value:g}" if inner else f"{name} {value:g}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def prometheus_text(
    totals: list[SiteTotals],
    events: Counter[tuple[str, str]],
    requests: dict[tuple[str, str], int],
) -> str:
    """The Prometheus text exposition (format 0.0.4) of the fleet's aggregate figures."""
    lines: list[str] = []
    lines += _family(
        "fairroll_dispensers",
        "gauge",
        "Dispensers by site and state.",
        (
            _sample("fairroll_dispensers", {"site": t.site, "state": state}, n)
            for t in totals
            for state, n in sorted(t.states.items())
        ),
    )
    lines += _family(
        "fairroll_dispensers_low_paper",
        "gauge",
        "Enabled dispensers at or below the low-paper threshold.",
        (_sample("fairroll_dispensers_low_paper", {"site": t.site}, t.low_paper) for t in totals),
    )
    lines += _family(
        "fairroll_open_alerts",
        "gauge",
        "Open alerts by site and kind.",
        (
            _sample("fairroll_open_alerts", {"site": t.site, "kind": kind}, n)
            for t in totals
            for kind, n in sorted(t.open_alerts.items())
        ),
    )
    lines += _family(
        "fairroll_events_total",
        "counter",
        "Device events ever recorded, by method and kind.",
        (
            _sample("fairroll_events_total", {"method": m, "kind": k}, n)
            for (m, k), n in sorted(events.items())
        ),
    )
    lines += _family(
        "fairroll_http_responses_total",
        "counter",
        "HTTP responses of this process by area and status class.",
        (
            _sample("fairroll_http_responses_total", {"area": a, "code": c}, n)
            for (a, c), n in sorted(requests.items())
        ),
    )
    return "\n".join(lines) + "\n"


def request_counter(app: Flask) -> RequestCounter:
    """The app's request counter."""
    counter: RequestCounter = app.extensions.setdefault("fairroll.requests", RequestCounter())
    return counter


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus scrape endpoint (guarded by a bearer token when one is configured)."""
    token = current_app.config["FAIRROLL_METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("metrics need the bearer token\n", status=401, mimetype="text/plain")
    now = utcnow()
    text = prometheus_text(
        site_totals(db.session, alert_settings(current_app), now=now),
        event_totals(db.session),
        request_counter(current_app).snapshot(),
    )
    db.session.rollback()  # read only
    return Response(text, mimetype="text/plain; version=0.0.4; charset=utf-8")


def cloudwatch_metric_data(report: FleetJobReport, *, now: datetime) -> list[dict[str, Any]]:
    """PutMetricData entries: a small fixed set for the whole fleet, whatever its size.

    No per-site or per-dispenser series: each costs every month, and a city has thousands.
    Dispenses carry one dimension, Method, from the fixed list of methods.
    """
    figures = report.figures

    def datum(name: str, value: float, unit: str = "Count", **dims: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"MetricName": name, "Value": value, "Unit": unit, "Timestamp": now}
        if dims:
            entry["Dimensions"] = [{"Name": k, "Value": v} for k, v in dims.items()]
        return entry

    data = [
        datum("Dispensers", figures.dispensers),
        datum("DispensersOffline", figures.offline),
        datum("DispensersEmpty", figures.empty),
        datum("DispensersLowPaper", figures.low_paper),
        datum("DispensersJammed", figures.jammed),
        datum("OpenAlerts", figures.open_alerts),
        datum("DispensersHeard", report.intake.heard),
        datum("OfflineAlertsHeld", 1 if report.offline_held else 0),
        datum("FleetJobSeconds", report.seconds, unit="Seconds"),
    ]
    data += [
        datum("Dispenses", figures.dispenses.get(method, 0), Method=method)
        for method in EVENT_METHODS
    ]
    return data


def publish_cloudwatch(client: Any, report: FleetJobReport, *, now: datetime) -> int:
    """Send the fleet-wide metrics to CloudWatch; return how many data points were sent."""
    data = cloudwatch_metric_data(report, now=now)
    for start in range(0, len(data), 20):
        client.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 20])
    return len(data)


def publish_fleet_figures(app: Flask, report: FleetJobReport, *, now: datetime) -> int:
    """Publish one fleet job run's figures (only the fleet job calls this)."""
    from backend.aws import client

    return publish_cloudwatch(client("cloudwatch", app), report, now=now)
