"""Benchmark: token issuance and typed-code redemption through the HTTP API.

Usage:
    .venv/bin/python bench/backend_tokens.py                 # embedded SQLite (temp file)
    .venv/bin/python bench/backend_tokens.py postgresql+psycopg://postgres@127.0.0.1/test

Drives the real Flask app in-process (WSGI test client, one thread), so the figures are
the app's own cost per request (routing, services, database) without network or server.
Prints requests per second and median / p95 latency for each endpoint.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-bench-"))

from flask_migrate import downgrade, upgrade  # noqa: E402

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.services.sites import (  # noqa: E402
    SitePolicy,
    create_dispenser,
    create_site,
    issue_enrollment_code,
)

REQUESTS = 500


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(name: str, samples: list[float]) -> None:
    rate = len(samples) / sum(samples)
    median_ms = statistics.median(samples) * 1e3
    p95_ms = _percentile(samples, 0.95) * 1e3
    print(f"{name:<28} {rate:8.0f} req/s   median {median_ms:6.2f} ms   p95 {p95_ms:6.2f} ms")


def main() -> None:
    """Run the benchmark and print its figures."""
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "b" * 40,
            "FAIRROLL_SIGNING_KEY_DIR": tempfile.mkdtemp(),
            # One dispenser mints every token here: lift its live-token cap (10 by default).
            "FAIRROLL_LIVE_TOKEN_CAP": REQUESTS,
        }
    )
    with app.app_context():
        upgrade()
        now = datetime.now(UTC)
        site = create_site(
            db.session,
            f"bench {now.timestamp()}",
            now=now,
            policy=SitePolicy(window_seconds=0, daily_cap=1000, min_interval_seconds=0),
        )
        dispenser = create_dispenser(db.session, site, now=now)
        code = issue_enrollment_code(db.session, dispenser, now=now, ttl=timedelta(hours=1))
        public_id = dispenser.public_id
        db.session.commit()
    client = app.test_client()
    key = client.post("/api/v1/device/enroll", json={"enrollment_code": code}).get_json()[
        "device_key"
    ]
    headers = {"Authorization": f"Bearer {key}"}
    issue_times, verify_times, codes = [], [], []
    for i in range(REQUESTS):
        visitor = app.test_client()  # a new visitor each time: every request mints a token
        start = time.perf_counter()
        response = visitor.post(f"/api/v1/dispensers/{public_id}/tokens")
        issue_times.append(time.perf_counter() - start)
        assert response.status_code == 201, (i, response.get_json())
        codes.append(response.get_json()["code"])
    for typed in codes:
        start = time.perf_counter()
        response = client.post("/api/v1/device/codes/verify", json={"code": typed}, headers=headers)
        verify_times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.get_json()
    print(f"database: {url.split('@')[-1]}   requests per endpoint: {REQUESTS}")
    _report("POST tokens (issue)", issue_times)
    _report("POST codes/verify (redeem)", verify_times)
    if url.startswith("postgresql"):
        with app.app_context():
            downgrade(revision="base")


if __name__ == "__main__":
    main()
