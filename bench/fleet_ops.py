"""Benchmark: the operators' side at city scale (fleet view, metrics, heartbeats, purge).

Usage:
    .venv/bin/python bench/fleet_ops.py                 # embedded SQLite (temp file)
    .venv/bin/python bench/fleet_ops.py postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python bench/fleet_ops.py sqlite:///... 200   # fewer dispensers

Builds a fleet (default 300 dispensers on 30 sites, a day of paper readings each and
7 days of events), then drives the real app in-process (WSGI test client, one thread):
heartbeats with alert evaluation, voucher redemption at the keypad, the fleet view,
the refill list, /metrics, a bulk enrollment of the largest CSV the admin page takes
(2,000 dispensers), and one purge that rolls a day of events into aggregates.
Prints the time of each.
"""

from __future__ import annotations

import io
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-bench-"))

import pyotp  # noqa: E402
from flask_migrate import downgrade, upgrade  # noqa: E402

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import DeviceEvent, PaperReading  # noqa: E402
from backend.services.bulk_enrollment import MAX_ROWS  # noqa: E402
from backend.services.operators import create_operator  # noqa: E402
from backend.services.purge import purge_expired  # noqa: E402
from backend.services.sites import create_dispenser, create_site, issue_enrollment_code  # noqa: E402
from backend.services.vouchers import create_voucher_batch  # noqa: E402
from backend.wiring import code_key  # noqa: E402

EVENTS_PER_DISPENSER_DAY = 150


def _timed(samples: list[float], call: Any) -> Any:
    start = time.perf_counter()
    result = call()
    samples.append(time.perf_counter() - start)
    return result


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"{name:<34} n={len(samples):<4} median {statistics.median(samples) * 1e3:8.1f} ms"
        f"   p95 {p95 * 1e3:8.1f} ms"
    )


def _build(dispensers: int, now: datetime) -> list[Any]:
    rng = random.Random(1)  # noqa: S311  (benchmark data, not security)
    sites = [create_site(db.session, f"Site {i}", now=now) for i in range(max(1, dispensers // 10))]
    made = [create_dispenser(db.session, sites[i % len(sites)], now=now) for i in range(dispensers)]
    for d in made:
        d.status, d.paper_level, d.last_heartbeat_at = "ok", rng.randint(5, 100), now
        for hour in range(24, 0, -2):
            db.session.add(
                PaperReading(
                    dispenser_id=d.id, level=100 - hour, read_at=now - timedelta(hours=hour)
                )
            )
    db.session.flush()
    rows = []
    for d in made:
        for _ in range(EVENTS_PER_DISPENSER_DAY * 7):
            at = now - timedelta(seconds=rng.randint(0, 7 * 86400))
            rows.append(
                {
                    "dispenser_id": d.id,
                    "event_id": uuid.uuid4().hex,
                    "kind": "dispense",
                    "method": rng.choice(["qr", "qr", "code", "face", "voucher"]),
                    "occurred_at": at,
                    "received_at": at,
                }
            )
    db.session.execute(DeviceEvent.__table__.insert(), rows)
    db.session.commit()
    return made


def _bulk_enrollment(client: Any) -> None:
    """The largest CSV the admin page takes: the time to the sheet's first bytes (the
    dispensers, codes and audit entries written and committed) and to its last (every
    sticker's QR code drawn), which must stay well inside the public balancer's 60 s."""
    csv = "site,label\n" + "".join(f"Bulk site {i // 20},Gate {i}\n" for i in range(MAX_ROWS))
    html = client.get("/admin/sites").get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    first: list[float] = []
    whole: list[float] = []
    start = time.perf_counter()
    response = client.post(
        "/admin/dispensers/bulk",
        data={"csrf_token": token, "csv": (io.BytesIO(csv.encode()), "fleet.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    pieces = iter(response.response)
    size = len(next(pieces))
    first.append(time.perf_counter() - start)
    size += sum(len(piece) for piece in pieces)
    whole.append(time.perf_counter() - start)
    _report(f"POST bulk enrollment, {MAX_ROWS}: 1st byte", first)
    _report(f"  ... whole sheet ({size / 1e6:.1f} MB)", whole)


def main() -> None:
    """Run the benchmark and print its figures."""
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "b" * 40,
            "FAIRROLL_SIGNING_KEY_DIR": tempfile.mkdtemp(),
        }
    )
    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        try:
            made = _build(count, now)
            print(
                f"fleet: {count} dispensers, {count * EVENTS_PER_DISPENSER_DAY * 7} events, {url.split('://')[0]}"
            )
            client = app.test_client()
            operator = create_operator(
                db.session,
                "bench@city.example",
                "bench password 123",
                role="admin",
                now=now,
                totp_enrolled=True,
            ).operator
            code = issue_enrollment_code(db.session, made[0], now=now, ttl=timedelta(hours=1))
            vouchers = create_voucher_batch(
                db.session,
                made[0].site,
                size=200,
                code_key=code_key(),
                now=now,
                valid_for=timedelta(days=5),
            ).codes
            db.session.commit()
            key = client.post("/api/v1/device/enroll", json={"enrollment_code": code}).get_json()[
                "device_key"
            ]
            auth = {"Authorization": f"Bearer {key}"}
            beats: list[float] = []
            for i in range(200):
                level = 100 - (i % 100)
                _timed(
                    beats,
                    lambda level=level: client.post(
                        "/api/v1/device/heartbeat",
                        json={"paper_level": level, "status": "ok"},
                        headers=auth,
                    ),
                )
            _report("POST heartbeat (+alerts, reading)", beats)
            redeems: list[float] = []
            for voucher in vouchers:
                response = _timed(
                    redeems,
                    lambda v=voucher: client.post(
                        "/api/v1/device/codes/verify", json={"code": v}, headers=auth
                    ),
                )
                assert response.status_code == 200, response.get_json()
            _report("POST codes/verify (voucher)", redeems)
            html = client.get("/admin/login").get_data(as_text=True)
            token = html.split('name="csrf_token" value="')[1].split('"')[0]
            client.post(
                "/admin/login",
                data={
                    "email": operator.email,
                    "password": "bench password 123",
                    "csrf_token": token,
                },
            )
            html = client.get("/admin/login/totp").get_data(as_text=True)
            token = html.split('name="csrf_token" value="')[1].split('"')[0]
            client.post(
                "/admin/login/totp",
                data={"code": pyotp.TOTP(operator.totp_secret).now(), "csrf_token": token},
            )
            for name, path in (
                ("GET /admin/ (fleet view)", "/admin/"),
                ("GET /admin/refills", "/admin/refills"),
                ("GET /metrics", "/metrics"),
            ):
                samples: list[float] = []
                for _ in range(5):
                    response = _timed(samples, lambda p=path: client.get(p))
                    assert response.status_code == 200, path
                _report(name, samples)
            _bulk_enrollment(client)
            purge: list[float] = []
            result = _timed(
                purge,
                lambda: purge_expired(
                    db.session, now=now + timedelta(days=6), retention=timedelta(days=7)
                ),
            )
            db.session.commit()
            _report(f"purge: roll up {result.counts['device_event']} events", purge)
        finally:
            db.session.remove()
            downgrade(revision="base")


if __name__ == "__main__":
    main()
