"""The fleet side of the embedded demo: a demo operator, a simulated dispenser, history.

Embedded demo only: the demo operator's password and TOTP secret are fixed and printed,
so `flask demo` refuses to create it when FAIRROLL_ENV=production.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import DeviceEvent, Dispenser, Operator, Site
from backend.services.events import EventIn, record_events
from backend.services.operators import create_operator
from backend.services.sites import SitePolicy, create_dispenser, create_site, issue_enrollment_code
from protocol.clock import utcnow

log = logging.getLogger("fairroll.demo")

DEMO_ADMIN_EMAIL = "admin@demo.fairroll.example"
DEMO_ADMIN_PASSWORD = "demo-only-password"  # noqa: S105  (printed at start; embedded demo only)
DEMO_TOTP_SECRET = "FAIRROLLDEMOTOTPSECRETBASE32AAAA"  # noqa: S105  (same: demo only)
DEMO_ENTRANCE_SITE = "Demo Park West Gate"
# How visitors choose at each demo site (weights), for the simulated events.
LOBBY_METHODS = {"qr": 70, "code": 12, "voucher": 6, "unrestricted": 0}
ENTRANCE_METHODS = {"qr": 55, "code": 10, "face": 28, "voucher": 7}


def ensure_demo_admin(now: datetime) -> None:
    """Create the demo admin (fixed password and TOTP secret) if missing."""
    exists = db.session.scalar(select(Operator.id).where(Operator.email == DEMO_ADMIN_EMAIL))
    if exists is None:
        create_operator(
            db.session,
            DEMO_ADMIN_EMAIL,
            DEMO_ADMIN_PASSWORD,
            role="admin",
            now=now,
            totp_secret=DEMO_TOTP_SECRET,
            totp_enrolled=True,
        )
        db.session.commit()


def ensure_entrance_dispenser(now: datetime) -> Dispenser:
    """A second demo site whose dispenser hangs at the entrance, with face mode allowed."""
    site = db.session.scalar(select(Site).where(Site.name == DEMO_ENTRANCE_SITE))
    if site is None:
        site = create_site(
            db.session,
            DEMO_ENTRANCE_SITE,
            now=now,
            timezone="Asia/Shanghai",
            policy=SitePolicy(face_mode_allowed=True),
            contact="privacy@city.example",
        )
    dispenser = db.session.scalar(select(Dispenser).where(Dispenser.site_id == site.id))
    if dispenser is None:
        dispenser = create_dispenser(db.session, site, now=now, label="Entrance, outside")
    db.session.commit()
    return dispenser


def ensure_baselines(sites: list[Site]) -> None:
    """Give demo sites a paper baseline (metres a day before rationing), if unset."""
    for site in sites:
        if site.paper_baseline_m is None:
            site.paper_baseline_m = 200
    db.session.commit()


def seed_history(dispensers: list[tuple[Dispenser, dict[str, int]]], now: datetime) -> int:
    """Six days of plausible past dispenses, once, so the charts have something to show."""
    if db.session.scalar(select(func.count(DeviceEvent.id))):
        return 0
    rng = random.Random(7)  # noqa: S311  (demo data, not security)
    total = 0
    for dispenser, weights in dispensers:
        events = []
        for hour in range(6 * 24, 0, -1):
            moment = now - timedelta(hours=hour)
            busy = 8 <= (moment.hour + 8) % 24 <= 21  # daytime in Asia/Shanghai
            for _ in range(rng.randint(4, 12) if busy else rng.randint(0, 2)):
                method = rng.choices(list(weights), weights=list(weights.values()))[0]
                at = moment + timedelta(seconds=rng.randint(0, 3599))
                events.append(EventIn(uuid.uuid4().hex, "dispense", method, at, None, None))
        record_events(db.session, dispenser, events, now=now)
        total += len(events)
    db.session.commit()
    return total


class SimulatedDispenser(threading.Thread):
    """A dispenser that talks to this backend over its real device API, in-process.

    Its paper runs down a few percent a tick, so the low-paper alert is raised; it runs
    empty, then a maintainer "refills" it and the alerts clear.
    """

    def __init__(
        self, app: Flask, code: str, weights: dict[str, int], *, tick: float, seed: int
    ) -> None:
        super().__init__(name="fairroll-simulated-dispenser", daemon=True)
        self.app = app
        self.code = code
        self.weights = weights
        self.tick = tick
        self.rng = random.Random(seed)  # noqa: S311  (simulation, not security)
        self.level = 100
        self.empty_ticks = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        client = self.app.test_client()
        enrolled = client.post("/api/v1/device/enroll", json={"enrollment_code": self.code})
        if enrolled.status_code != 201:
            log.error("simulated dispenser could not enroll: %s", enrolled.status_code)
            return
        headers = {"Authorization": f"Bearer {enrolled.get_json()['device_key']}"}
        while not self.stopped.wait(self.tick):
            if not self._step(client, headers):
                log.warning("simulated dispenser stopped: its key was revoked or replaced")
                return

    def _step(self, client: Any, headers: dict[str, str]) -> bool:
        now = utcnow()
        if self.level == 0:
            self.empty_ticks += 1
            if self.empty_ticks >= 4:  # the maintainer arrives
                self.level, self.empty_ticks = 100, 0
        else:
            served = self.rng.randint(1, 3)
            methods = self.rng.choices(list(self.weights), list(self.weights.values()), k=served)
            events = [
                {
                    "event_id": uuid.uuid4().hex,
                    "kind": "dispense",
                    "method": method,
                    "occurred_at": now.isoformat(),
                }
                for method in methods
            ]
            client.post("/api/v1/device/events", json={"events": events}, headers=headers)
            self.level = max(0, self.level - self.rng.randint(2, 5))
        status = "empty" if self.level == 0 else "low" if self.level <= 20 else "ok"
        beat = client.post(
            "/api/v1/device/heartbeat",
            json={"paper_level": self.level, "status": status, "software_version": "sim-1"},
            headers=headers,
        )
        return bool(beat.status_code == 200)


def start_simulation(app: Flask, dispenser: Dispenser, *, tick: float, now: datetime) -> None:
    """Enroll a simulated device for ``dispenser`` and start it (a fresh code of its own)."""
    weights = ENTRANCE_METHODS if dispenser.site.face_mode_allowed else LOBBY_METHODS
    code = issue_enrollment_code(db.session, dispenser, now=now, ttl=timedelta(minutes=10))
    db.session.commit()
    SimulatedDispenser(app, code, weights, tick=tick, seed=dispenser.id).start()
