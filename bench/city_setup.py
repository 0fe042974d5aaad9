"""The city benchmark's database side: a fresh PostgreSQL database, a fleet built through
the services, statement counts per request, and the exactly-once checks afterwards.

Used by bench/city_load.py and by the city check in tests/.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, insert, select, text

os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-city-"))

from backend import create_app
from backend.extensions import db
from backend.models import AccessToken, DeviceCredential, DeviceEvent
from backend.services.secrets import sha256_hex
from backend.services.sites import (
    SitePolicy,
    create_dispenser,
    create_site,
    issue_enrollment_code,
)
from tests.driver import WireTrace

# Sites that never refuse for quota: the benchmark measures the server, not the policy.
OPEN_POLICY = SitePolicy(window_seconds=0, daily_cap=1000, min_interval_seconds=0)
SECRET_KEY = "city-benchmark-" + "k" * 40


def make_app(database_url: str, key_dir: str) -> Flask:
    """The app on ``database_url`` as the benchmark's own process uses it (setup, checks)."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": SECRET_KEY,
            "FAIRROLL_SIGNING_KEY_DIR": key_dir,
            "FAIRROLL_PUBLIC_URL": "http://127.0.0.1",
            "FAIRROLL_COOKIE_SECURE": False,
            "SESSION_COOKIE_SECURE": False,
        }
    )


@dataclass
class Fleet:
    """What the load generator knows: each dispenser's public id and device key."""

    public_ids: list[str]
    keys: list[str | None]
    # Dispenser index -> one-time code, for the sample enrolled through the real API.
    enrollment_codes: dict[int, str] = field(default_factory=dict)


def build_fleet(app: Flask, dispensers: int, *, sample: int, now: datetime) -> Fleet:
    """Migrate, then create ``dispensers`` in ``dispensers // 10`` sites through the services.

    Every dispenser gets a device key in bulk, except a sample of ``sample`` which get
    one-time enrollment codes, to be enrolled through the real API.
    """
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        session = db.session
        sites = [
            create_site(session, f"City site {n:05d}", now=now, policy=OPEN_POLICY)
            for n in range(max(1, dispensers // 10))
        ]
        made = [
            create_dispenser(session, sites[n % len(sites)], label=f"Unit {n:05d}", now=now)
            for n in range(dispensers)
        ]
        fleet = Fleet([d.public_id for d in made], [None] * dispensers)
        rows = []
        for index, dispenser in enumerate(made):
            if index < sample:
                fleet.enrollment_codes[index] = issue_enrollment_code(
                    session, dispenser, now=now, ttl=timedelta(hours=4)
                )
                continue
            key = secrets.token_urlsafe(32)
            fleet.keys[index] = key
            rows.append(
                {"dispenser_id": dispenser.id, "key_hash": sha256_hex(key), "created_at": now}
            )
        if rows:
            session.execute(insert(DeviceCredential), rows)
        # A city in its steady state: every dispenser has issued tokens before, so its
        # live-token slot rows exist (a new dispenser's first token makes them, once).
        session.execute(
            text(
                "INSERT INTO live_token_slot (dispenser_id, slot)"
                " SELECT d.id, s FROM dispenser AS d, generate_series(0, :cap - 1) AS s"
            ),
            {"cap": app.config["FAIRROLL_LIVE_TOKEN_CAP"]},
        )
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()
    return fleet


def add_day_of_events(app: Flask, dispensers: int, *, per_second: float, days: int = 1) -> int:
    """Store ``days`` past days of dispense events (``per_second`` on average) in one
    statement, as a city's raw events are before the nightly purge (7 days retained: the
    steady state); return how many."""
    total = int(per_second * 86_400 * days)
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO device_event (dispenser_id, event_id, kind, method, occurred_at,"
                " received_at) SELECT 1 + (g % :n), md5('day' || g), 'dispense',"
                " (ARRAY['qr','code','face','voucher','unrestricted'])[1 + g % 5],"
                " now() - (g * interval '1 second' / :rate) - interval '1 minute',"
                " now() - (g * interval '1 second' / :rate)"
                " FROM generate_series(1, :total) AS g"
            ),
            {"n": dispensers, "rate": per_second, "total": total},
        )
        db.session.commit()
        db.session.execute(text("ANALYZE device_event"))
        db.session.commit()
    return total


def statement_counts(app: Flask, fleet: Fleet) -> dict[str, int]:
    """Statements each kind of request sends (one request each, in-process, after warm-up).

    Uses the last dispensers of the fleet, enrolled in bulk. A commit is one more round trip.
    """
    client = app.test_client()
    index = len(fleet.keys) - 1
    key = fleet.keys[index]
    assert key is not None, "statement counts need a dispenser enrolled in bulk"
    auth = {"Authorization": f"Bearer {key}"}
    public_id = fleet.public_ids[index]
    with app.app_context():
        counter = WireTrace(db.engine)
    counts: dict[str, int] = {}

    def measure(name: str, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        counter.reset()
        answer = client.open(path, method=method, **kwargs)
        assert answer.status_code == expect, (name, answer.status_code, answer.get_data())
        counts[name] = counter.count
        return answer

    try:
        beat = {"paper_level": 77, "status": "ok"}
        client.post("/api/v1/device/heartbeat", json=beat, headers=auth)  # warm-up
        measure("heartbeat", "POST", "/api/v1/device/heartbeat", 200, json=beat, headers=auth)
        etag = measure("config", "GET", "/api/v1/device/config", 200, headers=auth).headers["ETag"]
        measure(
            "config 304",
            "GET",
            "/api/v1/device/config",
            304,
            headers={**auth, "If-None-Match": etag},
        )
        for _ in range(2):  # warm-up: the day's secret made, then read (cached)
            client.post(f"/api/v1/dispensers/{public_id}/tokens", json={})
        code = measure("token", "POST", f"/api/v1/dispensers/{public_id}/tokens", 201, json={})
        measure(
            "typed code",
            "POST",
            "/api/v1/device/codes/verify",
            200,
            json={"code": code.get_json()["code"]},
            headers=auth,
        )
        moment = datetime.now(UTC).isoformat()
        batch = {"events": [_event(n, moment) for n in range(20)]}
        measure("events (20)", "POST", "/api/v1/device/events", 200, json=batch, headers=auth)
        measure("events resent", "POST", "/api/v1/device/events", 200, json=batch, headers=auth)
    finally:
        counter.close()
    return counts


METHODS = ("face", "voucher", "unrestricted", "code", "qr")


def _event(n: int, moment: str) -> dict[str, str]:
    return {
        "event_id": uuid.uuid4().hex,
        "kind": "dispense",
        "method": METHODS[n % len(METHODS)],
        "occurred_at": moment,
    }


def new_event(n: int, moment: str) -> dict[str, str]:
    """A dispense event as a device uploads it."""
    return _event(n, moment)


@dataclass(frozen=True)
class Tally:
    """What the database holds after a run, for the exactly-once checks."""

    events: int
    distinct_events: int
    tokens: int
    redeemed_by_code: int


def tally(app: Flask) -> Tally:
    """Count stored events (and distinct ids), tokens and typed-code redemptions."""
    with app.app_context():
        session = db.session
        events = session.scalar(select(func.count()).select_from(DeviceEvent)) or 0
        distinct = (
            session.scalar(
                select(func.count()).select_from(
                    select(DeviceEvent.dispenser_id, DeviceEvent.event_id).distinct().subquery()
                )
            )
            or 0
        )
        tokens = session.scalar(select(func.count()).select_from(AccessToken)) or 0
        by_code = (
            session.scalar(
                select(func.count()).where(
                    AccessToken.redeemed_at.is_not(None), AccessToken.method == "code"
                )
            )
            or 0
        )
        session.rollback()
    return Tally(int(events), int(distinct), int(tokens), int(by_code))


def outcome_counts(statuses: list[int]) -> Counter[int]:
    """How many answers of each status."""
    return Counter(statuses)
