"""Incidents: one message per check run for a whole outage, reminders, one resolution,
maintenance windows that silence them; set-based and race-free on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.extensions import db
from backend.fleet_job import run_fleet_job
from backend.incident_alerts import LISTED, IncidentDigest, compose_digest
from backend.models import Dispenser, Incident, MaintenanceWindow
from backend.services.alerts import AlertChange, evaluate_dispenser
from backend.services.fleet_check import raise_offline_alerts
from backend.services.incidents import OPENED, IncidentNotice, update_incidents
from backend.services.maintenance import end_window, start_window
from backend.services.sites import create_dispenser, create_site
from backend.wiring import alert_settings
from tests.backend.fleet_helpers import csrf_from, make_operator, sign_in
from tests.factories import make_dispenser, make_site

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
# Outages happen in a fleet that is otherwise heard from: the fleet job holds offline
# alerts when most of the fleet falls silent at once (the backend itself was behind).
CONTROL_SITE, CONTROL_SIZE = "Control Park", 100


class Pager:
    """Records per-dispenser changes and the digests that would page people."""

    def __init__(self) -> None:
        self.changes: list[AlertChange] = []
        self.digests: list[IncidentDigest] = []

    def send(self, change: AlertChange) -> None:
        self.changes.append(change)

    def page(self, digest: IncidentDigest) -> None:
        self.digests.append(digest)


@pytest.fixture
def pager(app: Flask) -> Iterator[Pager]:
    recorder = Pager()
    app.extensions["fairroll.notifier"] = recorder
    yield recorder
    app.extensions.pop("fairroll.notifier")


def _fleet(sizes: dict[str, int], seen: datetime = T0) -> dict[str, list[Dispenser]]:
    """Sites with that many dispensers each, all last seen at ``seen``; beside them a
    healthy site that ``run_fleet_check`` keeps heard from."""
    control = make_site(CONTROL_SITE)
    for _ in range(CONTROL_SIZE):
        make_dispenser(control, last_heartbeat_at=seen)
    return {
        name: [make_dispenser(make_site(name), last_heartbeat_at=seen)]
        + [make_dispenser(_site(name), last_heartbeat_at=seen) for _ in range(count - 1)]
        for name, count in sizes.items()
    }


def _site(name: str):  # type: ignore[no-untyped-def]
    from backend.models import Site

    return db.session.scalar(select(Site).where(Site.name == name))


def run_fleet_check(app: Flask, *, now: datetime) -> None:
    """The control site's heartbeats arrive as usual, then the scheduled fleet job runs."""
    control = _site(CONTROL_SITE)
    if control is not None:
        db.session.execute(
            update(Dispenser).where(Dispenser.site_id == control.id).values(last_heartbeat_at=now)
        )
        db.session.commit()
    assert run_fleet_job(app, now=now) is not None


def _heartbeat_all(app: Flask, at: datetime) -> None:
    """Every dispenser is back: what each one's heartbeat does to its alerts."""
    db.session.execute(update(Dispenser).values(last_heartbeat_at=at))
    for dispenser in db.session.scalars(select(Dispenser)):
        db.session.refresh(dispenser)
        evaluate_dispenser(db.session, dispenser, alert_settings(app), now=at)
    db.session.commit()


def test_an_outage_of_fifty_dispensers_pages_once(app: Flask, pager: Pager) -> None:
    fleet = _fleet({"North Park": 30, "South Park": 20})
    run_fleet_check(app, now=T0 + timedelta(minutes=10))
    assert len(pager.changes) == 50  # each dispenser's alert is logged ...
    (digest,) = pager.digests  # ... and people get one message
    assert digest.subject == "[fairroll] NEW offline: 50 dispensers at 2 sites"
    north = fleet["North Park"][0].site_id
    assert f"North Park: 30 dispensers  http://fairroll.test/admin/?site={north}" in digest.text
    assert "Every open alert: http://fairroll.test/admin/alerts" in digest.text
    # The next minutes: nothing new to say.
    for minute in range(11, 20):
        run_fleet_check(app, now=T0 + timedelta(minutes=minute))
    assert len(pager.digests) == 1


def test_a_long_outage_is_reminded_then_resolved_once(app: Flask, pager: Pager) -> None:
    _fleet({"East Park": 12})
    run_fleet_check(app, now=T0 + timedelta(minutes=10))
    run_fleet_check(app, now=T0 + timedelta(minutes=69))
    assert len(pager.digests) == 1
    run_fleet_check(app, now=T0 + timedelta(minutes=70))  # the 60-minute reminder
    assert pager.digests[-1].subject == "[fairroll] STILL offline: 12 dispensers at 1 site"
    assert "since 08:10 UTC" in pager.digests[-1].text
    back = T0 + timedelta(minutes=75)
    _heartbeat_all(app, back)
    run_fleet_check(app, now=back)
    assert pager.digests[-1].subject == "[fairroll] RESOLVED offline: 12 dispensers at 1 site"
    run_fleet_check(app, now=back + timedelta(minutes=1))
    assert len(pager.digests) == 3
    incident = db.session.scalars(select(Incident)).one()
    assert incident.is_open is None and incident.peak == 12 and incident.resolved_at == back


def test_a_site_that_grows_worse_keeps_one_incident(app: Flask, pager: Pager) -> None:
    fleet = _fleet({"West Park": 4})
    run_fleet_check(app, now=T0 + timedelta(minutes=10))
    more = [make_dispenser(_site("West Park"), last_heartbeat_at=T0) for _ in range(3)]
    run_fleet_check(app, now=T0 + timedelta(minutes=11))
    assert len(pager.digests) == 1 and len(more) == 3 and fleet
    incident = db.session.scalars(select(Incident)).one()
    assert incident.dispensers == 7 and incident.peak == 7


def test_a_fleet_window_silences_the_restore_drill(app: Flask, pager: Pager) -> None:
    _fleet({"Lake Park": 5, "Hill Park": 5})
    start_window(
        db.session,
        site=None,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        reason="restore drill",
        created_by="ops@city.example",
        now=T0,
    )
    db.session.commit()
    run_fleet_check(app, now=T0 + timedelta(minutes=10))
    run_fleet_check(app, now=T0 + timedelta(minutes=70))  # reminder due, still silenced
    _heartbeat_all(app, T0 + timedelta(minutes=80))
    run_fleet_check(app, now=T0 + timedelta(minutes=80))  # resolved, still silenced
    assert pager.digests == []
    assert db.session.scalars(select(Incident)).all()  # recorded all the same


def test_a_site_window_silences_only_that_site(app: Flask, pager: Pager) -> None:
    fleet = _fleet({"Quiet Park": 3, "Loud Park": 2})
    start_window(
        db.session,
        site=fleet["Quiet Park"][0].site,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        reason="refit",
        created_by="cli",
        now=T0,
    )
    db.session.commit()
    run_fleet_check(app, now=T0 + timedelta(minutes=10))
    (digest,) = pager.digests
    assert "Loud Park" in digest.text and "Quiet Park" not in digest.text
    assert digest.subject == "[fairroll] NEW offline: 2 dispensers at 1 site"


def test_a_big_digest_lists_the_largest_sites_and_counts_the_rest() -> None:
    notices = [
        IncidentNotice(OPENED, i, i, f"Site {i:02}", "offline", i, i, T0, silenced=False)
        for i in range(1, LISTED + 6)
    ]
    digest = compose_digest(
        notices, base_url="https://x", now=T0, open_sites=20, open_dispensers=210
    )
    assert digest is not None
    assert f"Site {LISTED + 5:02}" in digest.text and "Site 01" not in digest.text
    assert "... and 5 more sites" in digest.text
    assert len(digest.subject) <= 100 and digest.subject.isascii()
    silenced = [IncidentNotice(OPENED, 1, 1, "S", "jam", 1, 1, T0, silenced=True)]
    assert compose_digest(silenced, base_url="", now=T0, open_sites=1, open_dispensers=1) is None


def test_window_input_is_checked(app: Flask) -> None:
    from backend.errors import InvalidInput

    with pytest.raises(InvalidInput, match="end after"):
        start_window(
            db.session, site=None, starts_at=T0, ends_at=T0, reason="x", created_by="", now=T0
        )
    with pytest.raises(InvalidInput, match="at most 7 days"):
        start_window(
            db.session,
            site=None,
            starts_at=T0,
            ends_at=T0 + timedelta(days=8),
            reason="x",
            created_by="",
            now=T0,
        )
    with pytest.raises(InvalidInput, match="reason"):
        start_window(
            db.session, site=None, starts_at=T0, ends_at=T0 + timedelta(hours=1), reason=" ",
            created_by="", now=T0,
        )  # fmt: skip


def test_ending_a_window_is_one_conditional_write(app: Flask) -> None:
    window = start_window(
        db.session,
        site=None,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        reason="drill",
        created_by="",
        now=T0,
    )
    assert end_window(db.session, window.id, now=T0 + timedelta(minutes=5)) is True
    assert end_window(db.session, window.id, now=T0 + timedelta(minutes=6)) is False
    upcoming = start_window(
        db.session,
        site=None,
        starts_at=T0 + timedelta(hours=3),
        ends_at=T0 + timedelta(hours=4),
        reason="later",
        created_by="",
        now=T0,
    )
    assert end_window(db.session, upcoming.id, now=T0) is True  # cancelled
    remaining = select(MaintenanceWindow.id).where(MaintenanceWindow.id == upcoming.id)
    assert db.session.execute(remaining).first() is None


def test_maintenance_cli_starts_lists_and_ends(app: Flask, runner: FlaskCliRunner) -> None:
    make_site("Drill Park")
    started = runner.invoke(
        args=[
            "maintenance",
            "start",
            "--minutes",
            "90",
            "--site",
            "Drill Park",
            "--reason",
            "drill",
        ]
    )
    assert started.exit_code == 0, started.output
    window_id = started.output.split()[1].rstrip(":")
    listed = runner.invoke(args=["maintenance", "list"])
    assert "Drill Park" in listed.output and "drill" in listed.output
    assert runner.invoke(args=["maintenance", "end", window_id]).exit_code == 0
    again = runner.invoke(args=["maintenance", "end", window_id])
    assert again.exit_code == 1 and "no running or upcoming window" in again.output
    bad = runner.invoke(args=["maintenance", "start", "--minutes", "0", "--reason", "x"])
    assert bad.exit_code == 2
    nowhere = runner.invoke(
        args=["maintenance", "start", "--minutes", "5", "--site", "Nowhere", "--reason", "x"]
    )
    assert nowhere.exit_code == 1 and "no site named" in nowhere.output


def test_maintenance_page_starts_and_ends_windows(app: Flask, client: FlaskClient) -> None:
    site = make_site("Page Park")
    sign_in(client, make_operator())
    token = csrf_from(client, "/admin/maintenance")
    bad = client.post(
        "/admin/maintenance", data={"csrf_token": token, "minutes": "abc", "reason": "x"}
    )
    assert bad.status_code == 400 and "minutes must be" in bad.get_data(as_text=True)
    ok = client.post(
        "/admin/maintenance",
        data={"csrf_token": token, "minutes": "30", "site": str(site.id), "reason": "refit"},
    )
    assert ok.status_code == 302
    (window,) = db.session.scalars(select(MaintenanceWindow)).all()
    page = client.get("/admin/maintenance").get_data(as_text=True)
    assert "Page Park" in page and "refit" in page
    ended = client.post(f"/admin/maintenance/{window.id}/end", data={"csrf_token": token})
    assert ended.status_code == 302
    twice = client.post(f"/admin/maintenance/{window.id}/end", data={"csrf_token": token})
    assert twice.status_code == 409


@pytest.mark.postgres
def test_concurrent_checks_open_and_resolve_each_incident_once(
    committing_postgres_app: Flask,
) -> None:
    app = committing_postgres_app
    threads, trials = 8, 25
    with app.app_context():
        site = create_site(db.session, "Race Park", now=T0)
        for _ in range(5):
            create_dispenser(db.session, site, now=T0).last_heartbeat_at = T0
        db.session.commit()
        engine = db.engine
    with app.app_context():
        raise_offline_alerts(db.session, alert_settings(app), now=T0 + timedelta(minutes=10))
        db.session.commit()

    def race(at: datetime) -> list[str]:
        barrier = threading.Barrier(threads)

        def one(_: int) -> list[str]:
            with Session(engine) as session:
                barrier.wait()
                notices = update_incidents(session, now=at, reminder_every=timedelta(hours=1))
                session.commit()
                return [n.change for n in notices]

        with ThreadPoolExecutor(threads) as pool:
            return [c for result in pool.map(one, range(threads)) for c in result]

    opened = [c for trial in range(trials) for c in race(T0 + timedelta(minutes=10, seconds=trial))]
    assert opened == ["opened"]  # 8 threads x 25 rounds, one incident opened once
    reminded = race(T0 + timedelta(minutes=75))
    assert reminded == ["reminder"]
    with app.app_context():
        _heartbeat_all(app, T0 + timedelta(minutes=80))
    resolved = race(T0 + timedelta(minutes=80))
    assert resolved == ["resolved"]
