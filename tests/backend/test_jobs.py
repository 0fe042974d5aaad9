"""The embedded deployment's background jobs: purge at start, then the alert check."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask_migrate import upgrade

from backend import create_app
from backend.extensions import db
from backend.jobs import BackgroundJobs
from backend.models import Alert, DailyAggregate, DeviceEvent
from backend.services.sites import create_dispenser, create_site
from tests.conftest import app_config


def test_background_jobs_purge_and_check(tmp_path: Path) -> None:
    app = create_app(app_config(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path / "keys"))
    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        site = create_site(db.session, "Jobs Park", now=now)
        dispenser = create_dispenser(db.session, site, now=now)
        dispenser.status, dispenser.last_heartbeat_at = "ok", now - timedelta(hours=1)
        old = now - timedelta(days=30)
        db.session.add(
            DeviceEvent(
                dispenser_id=dispenser.id,
                event_id=uuid.uuid4().hex,
                kind="dispense",
                method="qr",
                occurred_at=old,
                received_at=old,
            )
        )
        db.session.commit()
    jobs = BackgroundJobs(app, check_every=0.05)
    jobs.start()
    try:
        deadline = time.monotonic() + 30
        with app.app_context():
            while time.monotonic() < deadline:
                found = db.session.query(Alert).count()
                db.session.remove()  # release SQLite's lock at once: the jobs write meanwhile
                if found:
                    break
                time.sleep(0.05)
    finally:
        jobs.stop()
        jobs.join(timeout=10)
    assert not jobs.is_alive()
    with app.app_context():
        assert db.session.query(Alert).one().kind == "offline"
        assert db.session.query(DeviceEvent).count() == 0
        assert db.session.query(DailyAggregate).one().count == 1
        db.session.remove()
        db.engine.dispose()
