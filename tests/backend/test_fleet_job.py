"""The scheduled fleet job: set-based offline detection, held when the backend was behind,
readings and forecasts, fleet-wide figures, and its lock (one run at a time)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

import backend.fleet_job as fleet_job_module
from backend.extensions import db
from backend.fleet_job import FleetJobReport, run_fleet_job
from backend.models import (
    Alert,
    DeviceEvent,
    Dispenser,
    FleetJobRun,
    HourlyCount,
    PaperForecast,
    PaperReading,
)
from backend.services.aggregates import daily_counts_by_site, hourly_counts, rolled_up_hours
from backend.services.forecast import forecast_from_readings
from backend.services.sites import create_dispenser, create_site
from tests.factories import auth, enroll, make_dispenser, make_site, now


def _run(app: Flask, at: datetime | None = None) -> FleetJobReport:
    report = run_fleet_job(app, now=at or now())
    assert report is not None
    return report


def _open_offline() -> int:
    query = select(func.count()).where(Alert.kind == "offline", Alert.is_open.is_(True))
    return int(db.session.scalar(query) or 0)


def _fleet(count: int, *, silent: int, at: datetime) -> None:
    """``count`` dispensers heard within the last day; ``silent`` of them not for 10 min."""
    site = make_site("Job Park")
    for index in range(count):
        heard = at - timedelta(minutes=10) if index < silent else at - timedelta(seconds=20)
        make_dispenser(site, status="ok", paper_level=80, last_heartbeat_at=heard)


def test_offline_alerts_are_raised_for_every_silent_dispenser_at_once(app: Flask) -> None:
    at = now()
    _fleet(30, silent=5, at=at)
    report = _run(app, at)
    assert not report.offline_held
    assert [c.kind for c in report.changes] == ["offline"] * 5
    assert {c.site for c in report.changes} == {"Job Park"}
    assert _open_offline() == 5
    assert report.figures.offline == 5 and report.figures.dispensers == 30


def test_offline_alerts_are_held_when_the_backends_own_intake_dropped(app: Flask) -> None:
    at = now()
    _fleet(30, silent=20, at=at)  # two thirds silent at once: the backend was behind
    report = _run(app, at)
    assert report.offline_held
    assert report.intake.known == 30 and report.intake.heard == 10
    assert report.changes == [] and _open_offline() == 0
    run = db.session.scalars(select(FleetJobRun)).one()
    assert run.offline_held and run.heard == 10 and run.known == 30


def _past_runs(start: datetime, end: datetime, *, known: int = 0, heard: int = 0) -> None:
    """Runs of the job recorded once a minute in [start, end), as a live backend has."""
    moment = start
    while moment < end:
        db.session.add(FleetJobRun(started_at=moment, known=known, heard=heard))
        moment += timedelta(minutes=1)
    db.session.commit()


def test_after_an_outage_offline_alerts_wait_until_the_backend_heard_a_whole_span(
    app: Flask,
) -> None:
    # The database was down for 8 minutes (no run recorded); back at R, 3 of 8 dispensers
    # have not caught up yet: no alert until the job has run, unblind, for a whole span.
    back = now() - timedelta(minutes=10)
    _past_runs(back - timedelta(hours=1), back - timedelta(minutes=8))
    site = make_site("Outage Park")
    late = [
        make_dispenser(
            site, status="ok", paper_level=80, last_heartbeat_at=back - timedelta(minutes=9)
        )
        for _ in range(3)
    ]
    for _ in range(5):
        make_dispenser(site, status="ok", paper_level=80, last_heartbeat_at=back)
    first = _run(app, back)
    assert first.offline_held and first.changes == [] and _open_offline() == 0
    two_late = _run(app, back + timedelta(minutes=2))
    assert two_late.offline_held and _open_offline() == 0  # still within the span
    late[0].last_heartbeat_at = back + timedelta(minutes=2)  # one caught up, two never
    raised = []
    for moment in range(3, 7):
        db.session.execute(
            update(Dispenser)
            .where(Dispenser.id.not_in([d.id for d in late[1:]]))
            .values(last_heartbeat_at=back + timedelta(minutes=moment))
        )
        db.session.commit()
        report = _run(app, back + timedelta(minutes=moment))
        raised += [c.dispenser for c in report.changes if c.change == "raised"]
    assert not report.offline_held  # heard for a whole span: judged again
    assert sorted(raised) == sorted(d.public_id for d in late[1:])  # not the one back


def test_a_backend_restored_from_an_old_snapshot_raises_nothing_at_once(app: Flask) -> None:
    at = now()
    _past_runs(at - timedelta(days=2, hours=1), at - timedelta(days=2))  # the snapshot's
    _fleet(30, silent=30, at=at)  # nobody heard since: the backend, not the fleet, was away
    report = _run(app, at)
    assert report.offline_held and _open_offline() == 0


def test_a_small_fleet_all_silent_still_raises(app: Flask) -> None:
    at = now()
    _fleet(3, silent=3, at=at)
    report = _run(app, at)
    assert not report.offline_held and len(report.changes) == 3


def test_heartbeats_store_no_readings_the_job_does_and_forecasts(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    start = now() - timedelta(hours=2)
    levels = [(start, 90), (start + timedelta(hours=1), 70)]
    for stored, (heard, level) in enumerate(levels):
        response = client.post(
            "/api/v1/device/heartbeat",
            json={"paper_level": level, "status": "ok"},
            headers=auth(key),
        )
        assert response.status_code == 200
        assert db.session.scalar(select(func.count()).select_from(PaperReading)) == stored
        # Time the report as if it arrived then, and let the job take it.
        dispenser.last_heartbeat_at = heard
        db.session.commit()
        assert _run(app, heard + timedelta(seconds=30)).readings == 1
    at = start + timedelta(hours=2)
    dispenser.last_heartbeat_at = at - timedelta(seconds=10)
    db.session.commit()
    report = _run(app, at)
    assert report.readings == 0  # level unchanged: no new reading
    rows = db.session.execute(
        select(PaperReading.read_at, PaperReading.level).order_by(PaperReading.read_at)
    ).all()
    assert [r.level for r in rows] == [90, 70]
    stored = db.session.get(PaperForecast, dispenser.id)
    assert stored is not None and stored.rate_per_hour is not None
    expected = forecast_from_readings(
        [(r.read_at, r.level) for r in rows], 70, now=at, low_percent=20
    )
    assert expected.rate_per_hour is not None
    assert stored.rate_per_hour == pytest.approx(expected.rate_per_hour, rel=1e-3)
    assert stored.rate_per_hour == pytest.approx(10.0, rel=1e-3)  # 20 points in 2 hours


def test_the_job_resolves_every_alert_whose_condition_ended(app: Flask) -> None:
    """Alerts left open (a heartbeat's alert writes commit after it, so a failure between
    them leaves one): cleared, heard again or switched off are resolved; a jam that
    holds and an offline dispenser still silent keep theirs."""
    at = now()
    site = make_site("Alert Park")
    recent = at - timedelta(seconds=20)
    cleared = make_dispenser(site, status="ok", paper_level=80, last_heartbeat_at=recent)
    jammed = make_dispenser(site, status="jam", paper_level=80, last_heartbeat_at=recent)
    back = make_dispenser(site, status="ok", paper_level=80, last_heartbeat_at=recent)
    silent = make_dispenser(
        site, status="ok", paper_level=80, last_heartbeat_at=at - timedelta(minutes=30)
    )
    off = make_dispenser(site, status="jam", enabled=False, last_heartbeat_at=recent)
    for dispenser, kind in (
        (cleared, "jam"),
        (jammed, "jam"),
        (back, "offline"),
        (silent, "offline"),
        (off, "jam"),
    ):
        db.session.add(
            Alert(
                dispenser_id=dispenser.id,
                kind=kind,
                is_open=True,
                detail=kind,
                raised_at=at - timedelta(hours=1),
            )
        )
    db.session.commit()
    report = _run(app, at)
    resolved = {(c.dispenser, c.kind) for c in report.changes if c.change == "resolved"}
    assert resolved == {
        (cleared.public_id, "jam"),
        (back.public_id, "offline"),
        (off.public_id, "jam"),
    }
    still = db.session.execute(
        select(Alert.dispenser_id, Alert.kind).where(Alert.is_open.is_(True))
    ).all()
    assert sorted(still) == sorted([(jammed.id, "jam"), (silent.id, "offline")])


@pytest.mark.postgres
def test_an_alert_a_failed_heartbeat_left_open_is_resolved_by_the_next_job(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In production a heartbeat commits before its alert writes: when they fail, the
    new state stays and the alert is left open (the next heartbeat, healthy before and
    after, evaluates nothing); the fleet job's next run resolves it."""
    import backend.alerting

    app = committing_postgres_app
    client = app.test_client()
    with app.app_context():
        dispenser = make_dispenser(make_site())
        key = enroll(client, dispenser)["device_key"]
    beat = "/api/v1/device/heartbeat"
    jam = client.post(beat, json={"paper_level": 80, "status": "jam"}, headers=auth(key))
    assert jam.status_code == 200

    def fails(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the connection dropped")

    healthy = {"paper_level": 80, "status": "ok"}
    with monkeypatch.context() as patch:
        patch.setattr(backend.alerting, "evaluate_dispenser", fails)
        patch.setattr(app, "testing", False)  # answered 500, not raised into the test
        assert client.post(beat, json=healthy, headers=auth(key)).status_code == 500
    assert client.post(beat, json=healthy, headers=auth(key)).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Alert.kind).where(Alert.is_open.is_(True))).all() == [
            "jam"
        ]
        report = _run(app)
        assert [(c.change, c.kind) for c in report.changes] == [("resolved", "jam")]
        assert db.session.scalar(select(func.count()).where(Alert.is_open.is_(True))) == 0


def test_the_heartbeat_runs_no_fleet_job(app: Flask, client: FlaskClient) -> None:
    make_dispenser(make_site(), status="ok", last_heartbeat_at=now() - timedelta(hours=1))
    dispenser = make_dispenser(make_site("Other"))
    key = enroll(client, dispenser)["device_key"]
    for _ in range(3):
        response = client.post(
            "/api/v1/device/heartbeat", json={"paper_level": 50, "status": "ok"}, headers=auth(key)
        )
        assert response.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(FleetJobRun)) == 0
    assert _open_offline() == 0  # only the job raises offline alerts


def test_figures_count_states_and_dispenses_by_method(app: Flask) -> None:
    from backend.models import DeviceEvent

    at = now()
    site = make_site()
    make_dispenser(site, status="empty", paper_level=0, last_heartbeat_at=at)
    make_dispenser(site, status="jam", paper_level=50, last_heartbeat_at=at)
    low = make_dispenser(site, status="ok", paper_level=10, last_heartbeat_at=at)
    make_dispenser(site, enabled=False, status="jam")
    for index, method in enumerate(["qr", "qr", "face"]):
        db.session.add(
            DeviceEvent(
                dispenser_id=low.id,
                event_id=f"e{index}",
                kind="dispense",
                method=method,
                occurred_at=at - timedelta(seconds=50),
                received_at=at - timedelta(seconds=40),  # counted once past the lag
            )
        )
    db.session.commit()
    figures = _run(app, at).figures
    assert (figures.dispensers, figures.empty, figures.jammed) == (3, 1, 1)
    assert figures.low_paper == 1  # 10 % (the one at 0 % is empty, as its alert says)
    assert figures.dispenses == {"qr": 2, "face": 1}


def _fifty_dispenses_from(start: datetime) -> None:
    """One every 7 s from ``start``, three of them uploaded 5 minutes after the fact."""
    from backend.models import DeviceEvent

    dispenser = make_dispenser(make_site())
    for n in range(50):
        received = start + timedelta(seconds=7 * n)
        late = n % 17 == 3
        db.session.add(
            DeviceEvent(
                dispenser_id=dispenser.id,
                event_id=f"once{n}",
                kind="dispense",
                method="qr",
                occurred_at=received - timedelta(minutes=5 if late else 0, seconds=2),
                received_at=received,
            )
        )
    db.session.commit()


def test_runs_a_minute_apart_count_each_dispense_once_late_uploads_included(
    app: Flask,
) -> None:
    start = now() - timedelta(minutes=20)
    _run(app, start)  # the first run, before any of the events
    _fifty_dispenses_from(start)
    counted = sum(
        _run(app, start + timedelta(minutes=minute)).figures.dispenses.get("qr", 0)
        for minute in range(1, 8)  # the last run's window ends past the last receipt
    )
    assert counted == 50


def test_dispenses_a_failed_publication_missed_go_out_with_the_next(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudWatch refused two runs' figures in a row: the next run that reaches it sends
    their dispenses with its own, so the dashboard's sum misses none and has none twice."""
    import backend.metrics

    monkeypatch.setitem(app.config, "FAIRROLL_CLOUDWATCH_METRICS", True)
    sent: list[int] = []
    refused: list[int] = []
    refused_at = {2, 3}  # the runs, counted from 0, whose publication fails

    def publish(_app: Flask, report: FleetJobReport, *, now: datetime) -> int:
        """The job's view of CloudWatch: it takes the data points, or the call raises."""
        if len(sent) + len(refused) in refused_at:
            refused.append(report.figures.dispenses.get("qr", 0))
            raise ConnectionError("CloudWatch did not answer")
        sent.append(report.figures.dispenses.get("qr", 0))
        return 14

    monkeypatch.setattr(backend.metrics, "publish_fleet_figures", publish)
    start = now() - timedelta(minutes=20)
    _run(app, start)  # run 0, before any of the events
    _fifty_dispenses_from(start)
    for minute in range(1, 8):
        _run(app, start + timedelta(minutes=minute))
    assert all(refused) and len(refused) == 2  # the refused windows had dispenses
    assert sum(sent) == 50
    published = db.session.scalars(select(FleetJobRun.published).order_by(FleetJobRun.started_at))
    assert list(published) == [True, True, False, False, True, True, True, True]


def test_a_run_that_starts_while_another_publishes_counts_from_that_one(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing happens after the run's commit, outside the job's lock: a run that
    starts meanwhile must not count the publishing run's window again."""
    import backend.metrics

    monkeypatch.setitem(app.config, "FAIRROLL_CLOUDWATCH_METRICS", True)
    start = now() - timedelta(minutes=20)
    sent: list[int] = []
    overlapped: list[datetime] = []

    def publish(_app: Flask, report: FleetJobReport, *, now: datetime) -> int:
        if report.figures.dispenses and not overlapped:  # the first with dispenses is slow:
            overlapped.append(now)
            _run(app, now + timedelta(seconds=30))  # the next run starts meanwhile
        sent.append(report.figures.dispenses.get("qr", 0))
        return 14

    monkeypatch.setattr(backend.metrics, "publish_fleet_figures", publish)
    _run(app, start)
    _fifty_dispenses_from(start)
    for minute in range(1, 8):
        _run(app, start + timedelta(minutes=minute, seconds=40 if minute > 1 else 0))
    assert overlapped and sum(sent) == 50


def test_runs_without_metrics_publish_nothing_and_settle_their_windows(app: Flask) -> None:
    start = now() - timedelta(minutes=20)
    _run(app, start)
    _run(app, start + timedelta(minutes=1))
    assert set(db.session.scalars(select(FleetJobRun.published))) == {None}


def test_figures_count_what_the_alert_rules_say(app: Flask) -> None:
    """The fleet job's figures are the alert conditions counted in SQL: for every kind of
    dispenser they equal what active_conditions() says of each, one by one."""
    from backend.services.alerts import active_conditions
    from backend.wiring import alert_settings

    at = now()
    site = make_site()
    long_ago = at - timedelta(hours=2)
    for enabled in (True, False):
        for status in ("ok", "low", "empty", "jam", "camera_fault", "unknown"):
            for level in (None, 0, 5, 20, 21, 100):
                for seen in (None, at, long_ago):
                    make_dispenser(
                        site,
                        enabled=enabled,
                        status=status,
                        paper_level=level,
                        last_heartbeat_at=seen,
                    )
    settings = alert_settings(app)
    expected = {"offline": 0, "empty": 0, "low_paper": 0, "jam": 0}
    for dispenser in db.session.scalars(select(Dispenser)):
        for kind in active_conditions(dispenser, settings, now=at):
            if kind in expected:
                expected[kind] += 1
    figures = _run(app, at).figures
    counted = {
        "offline": figures.offline,
        "empty": figures.empty,
        "low_paper": figures.low_paper,
        "jam": figures.jammed,
    }
    assert counted == expected
    assert figures.dispensers == 6 * 6 * 3


def _committed_fleet(app: Flask, count: int) -> None:
    at = datetime.now(UTC)
    with app.app_context():
        site = create_site(db.session, "Lock Park", now=at)
        for _ in range(count):
            dispenser = create_dispenser(db.session, site, now=at)
            dispenser.status, dispenser.last_heartbeat_at = "ok", at - timedelta(minutes=10)
        db.session.commit()


@pytest.mark.postgres
def test_concurrent_runs_exactly_one_does_the_work(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = committing_postgres_app
    _committed_fleet(app, 5)
    runners = 8
    start = threading.Barrier(runners)
    losers_done = threading.Semaphore(0)
    real_intake = fleet_job_module.fleet_intake

    def slow_intake(*args: Any, **kwargs: Any) -> Any:
        # The lock's holder waits here until every other run has given up.
        for _ in range(runners - 1):
            assert losers_done.acquire(timeout=30)
        return real_intake(*args, **kwargs)

    monkeypatch.setattr(fleet_job_module, "fleet_intake", slow_intake)
    results: list[FleetJobReport | None] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                report = run_fleet_job(app, now=datetime.now(UTC))
                results.append(report)
                if report is None:
                    losers_done.release()
                db.session.remove()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    done = [r for r in results if r is not None]
    assert len(results) == runners and len(done) == 1
    assert len(done[0].changes) == 5
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FleetJobRun)) == 1
        assert _open_offline() == 5
        db.session.remove()


@pytest.mark.postgres
def test_the_lock_is_free_again_after_a_run(committing_postgres_app: Flask) -> None:
    app = committing_postgres_app
    _committed_fleet(app, 2)
    with app.app_context():
        assert run_fleet_job(app, now=datetime.now(UTC)) is not None
        assert run_fleet_job(app, now=datetime.now(UTC)) is not None
        assert db.session.scalar(select(func.count()).select_from(FleetJobRun)) == 2
        assert db.session.scalar(select(func.count()).select_from(Dispenser)) == 2
        db.session.remove()


def test_a_run_is_bounded_and_its_limits_end_with_it(committing_postgres_app: Flask) -> None:
    # A run stuck on a statement, a lock or between statements is ended by the server,
    # which frees the lock for the next run; other work on the connection has no limits.
    from sqlalchemy import text

    from backend.services.fleet_check import FLEET_JOB_LIMITS_MS, try_fleet_job_lock

    def settings() -> dict[str, str]:
        rows = db.session.execute(
            text("SELECT name, setting FROM pg_settings WHERE name = ANY(:names)"),
            {"names": list(FLEET_JOB_LIMITS_MS)},
        )
        return {name: setting for name, setting in rows}

    with committing_postgres_app.app_context():
        assert try_fleet_job_lock(db.session)
        assert settings() == {name: str(ms) for name, ms in FLEET_JOB_LIMITS_MS.items()}
        db.session.rollback()
        assert settings() == dict.fromkeys(FLEET_JOB_LIMITS_MS, "0")
        db.session.remove()


def _events(dispenser: Dispenser, moments: list[datetime], method: str = "qr") -> None:
    from backend.models import DeviceEvent

    for moment in moments:
        db.session.add(
            DeviceEvent(
                dispenser_id=dispenser.id,
                event_id=uuid.uuid4().hex,
                kind="dispense",
                method=method,
                occurred_at=moment,
                received_at=now(),
            )
        )
    db.session.commit()


def _charts(site_id: int | None) -> tuple[Any, Any]:
    at = now()
    hourly = hourly_counts(db.session, start=at - timedelta(hours=30), end=at, site_id=site_id)
    daily = daily_counts_by_site(
        db.session, first_day=(at - timedelta(days=3)).date(), last_day=at.date(), site_id=site_id
    )
    return dict(hourly), dict(daily)


def test_charts_from_the_jobs_hourly_counts_equal_the_raw_counts(app: Flask) -> None:
    at = now()
    north, south = make_site("North"), make_site("South")
    a, b = make_dispenser(north), make_dispenser(south)
    _events(a, [at - timedelta(hours=h, minutes=7) for h in (2, 2, 5, 26)])
    _events(b, [at - timedelta(hours=h, minutes=40) for h in (3, 5)], method="face")
    raw = {site: _charts(site) for site in (None, north.id, south.id)}
    report = _run(app, at)
    assert report.hours >= 4  # the first run counts every hour
    _run(app, at + timedelta(minutes=1))  # a rerun changes nothing
    window = rolled_up_hours(db.session)
    assert window is not None and window[1] - window[0] >= timedelta(hours=20)
    assert {site: _charts(site) for site in (None, north.id, south.id)} == raw
    # A late upload for an hour already counted: recounted by the next run.
    late = at - timedelta(hours=5, minutes=7)  # the hour of one event already counted
    _events(a, [late])
    _run(app, at + timedelta(minutes=2))
    hourly, _ = _charts(None)
    hour = late.replace(minute=0, second=0, microsecond=0)
    assert hourly[(hour, "qr", "dispense")] == 2
    # Read from the counts, not the raw events: a count changed by hand shows.
    db.session.execute(update(HourlyCount).where(HourlyCount.hour == hour).values(count=99))
    assert _charts(north.id)[0][(hour, "qr", "dispense")] == 99


def test_charts_over_weeks_read_a_row_a_day_for_the_days_counted_whole(app: Flask) -> None:
    from backend.models import DailyCount
    from backend.services.transparency import offered_dispenses

    at = now()
    north, south = make_site("North"), make_site("South")
    a, b = make_dispenser(north), make_dispenser(south)
    _events(a, [at - timedelta(hours=h, minutes=7) for h in (1, 20, 30, 50, 75, 100)])
    _events(b, [at - timedelta(hours=h, minutes=40) for h in (3, 49, 98)], method="face")
    db.session.execute(
        update(DeviceEvent).where(DeviceEvent.method == "face").values(face_offered=True)
    )
    db.session.commit()
    week = at - timedelta(days=7)

    def figures() -> tuple[Any, ...]:
        return (
            *(_charts(site) for site in (None, north.id, south.id)),
            offered_dispenses(db.session, since=week, now=at),
        )

    raw = figures()
    _run(app, at)
    assert figures() == raw  # days from daily counts, their edges from hourly counts
    whole = (at - timedelta(days=2)).date()  # a day the counted hours cover whole
    assert db.session.query(DailyCount).filter_by(day=whole).count() > 0
    db.session.execute(update(DailyCount).where(DailyCount.day == whole).values(count=99))
    that_day = {key: n for key, n in _charts(None)[1].items() if key[1] == whole}
    assert that_day and set(that_day.values()) == {99}  # read from the daily counts


def test_the_opt_out_figure_from_the_jobs_hourly_counts_equals_the_raw_one(app: Flask) -> None:
    from backend.models import DeviceEvent
    from backend.services.transparency import offered_dispenses

    at = now()
    north, south = make_site("North"), make_site("South")
    a, b = make_dispenser(north), make_dispenser(south)
    _events(a, [at - timedelta(hours=h, minutes=7) for h in (2, 5, 30)], method="qr")
    _events(b, [at - timedelta(hours=h, minutes=40) for h in (3, 5)], method="face")
    _events(b, [at - timedelta(minutes=5)], method="code")  # the hour in progress: raw
    db.session.execute(update(DeviceEvent).values(face_offered=True))
    db.session.execute(
        update(DeviceEvent).where(DeviceEvent.method == "qr").values(face_offered=False)
    )
    db.session.commit()
    week = at - timedelta(days=7)

    def figures() -> list[dict[str, int]]:
        return [
            offered_dispenses(db.session, since=week, now=at, site_id=site)
            for site in (None, north.id, south.id)
        ]

    raw = figures()
    assert raw[0]["face"] == 2 and raw[0]["code"] == 1 and raw[0]["qr"] == 0
    _run(app, at)
    assert figures() == raw
    # Read from the counts, not a week of raw events: a count changed by hand shows (the
    # hour's row, or its day's if that day is counted whole: whichever is read).
    from backend.models import DailyCount

    hour = (at - timedelta(hours=3, minutes=40)).replace(minute=0, second=0, microsecond=0)
    db.session.execute(
        update(HourlyCount)
        .where(HourlyCount.hour == hour, HourlyCount.method == "face")
        .values(face_offered=HourlyCount.face_offered + 4)
    )
    db.session.execute(
        update(DailyCount)
        .where(DailyCount.day == hour.date(), DailyCount.method == "face")
        .values(face_offered=DailyCount.face_offered + 4)
    )
    assert figures()[0]["face"] == 6


def test_emptied_counts_are_counted_again_whole_and_read_raw_meanwhile(app: Flask) -> None:
    # As after the migration that added the daily counts: the hourly counts are emptied,
    # the runs kept (so a gap in them still holds offline alerts).
    at = now()
    a = make_dispenser(make_site("North"))
    _events(a, [at - timedelta(hours=h, minutes=7) for h in (2, 30, 60)])
    raw = _charts(None)
    _run(app, at)
    db.session.execute(HourlyCount.__table__.delete())  # type: ignore[attr-defined]
    db.session.commit()
    assert rolled_up_hours(db.session) is None and _charts(None) == raw  # raw meanwhile
    report = _run(app, at + timedelta(minutes=1))
    assert report.hours >= 3  # every hour again, not only those received since the last run
    assert rolled_up_hours(db.session) is not None and _charts(None) == raw


def test_site_totals_agree_with_each_dispensers_state(app: Flask) -> None:
    from collections import Counter

    from backend.services.fleet import dispenser_state, site_totals
    from backend.wiring import alert_settings

    at = now()
    site, empty_site = make_site("Totals"), make_site("Nobody")
    rows = [
        {"status": "ok", "paper_level": 80, "last_heartbeat_at": at},
        {"status": "low", "paper_level": 10, "last_heartbeat_at": at},
        {"status": "ok", "paper_level": 5, "last_heartbeat_at": at - timedelta(hours=1)},
        {"status": "jam", "paper_level": 50, "enabled": False},
        {},
    ]
    made = [make_dispenser(site, **fields) for fields in rows]
    settings = alert_settings(app)
    totals = {t.site: t for t in site_totals(db.session, settings, now=at)}
    expected = Counter(dispenser_state(d, settings, now=at) for d in made)
    assert totals["Totals"].states == expected
    assert totals["Totals"].dispensers == 5 and totals["Totals"].low_paper == 2
    assert totals[empty_site.name].dispensers == 0
