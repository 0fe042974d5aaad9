"""Alert life cycle: raised once, resolved automatically, offline detection, notifications."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.fleet_job import run_fleet_job
from backend.models import Alert, Dispenser
from backend.notify import LogNotifier
from backend.services.alerts import (
    AlertChange,
    AlertSettings,
    active_conditions,
    evaluate_dispenser,
)
from tests.factories import auth, enroll, make_dispenser, make_site, now

SETTINGS = AlertSettings(low_paper_percent=20, offline_after=timedelta(minutes=3))


class RecordingNotifier:
    """Keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[AlertChange] = []

    def send(self, change: AlertChange) -> None:
        self.sent.append(change)

    def page(self, digest: object) -> None:
        """Incident digests are tested in test_incidents.py."""


@pytest.fixture
def sent(app: Flask) -> list[AlertChange]:
    recorder = RecordingNotifier()
    app.extensions["fairroll.notifier"] = recorder
    yield recorder.sent
    app.extensions.pop("fairroll.notifier")


def _beat(client: FlaskClient, key: str, level: int, status: str = "ok") -> None:
    response = client.post(
        "/api/v1/device/heartbeat", json={"paper_level": level, "status": status}, headers=auth(key)
    )
    assert response.status_code == 200, response.get_json()


def _open(dispenser: Dispenser) -> set[str]:
    rows = db.session.query(Alert).filter_by(dispenser_id=dispenser.id, is_open=True).all()
    return {row.kind for row in rows}


def test_conditions_follow_status_and_level() -> None:
    dispenser = Dispenser(enabled=True, status="ok", paper_level=50, last_heartbeat_at=now())
    assert active_conditions(dispenser, SETTINGS, now=now()) == {}
    dispenser.paper_level = 20
    assert set(active_conditions(dispenser, SETTINGS, now=now())) == {"low_paper"}
    dispenser.paper_level, dispenser.status = 0, "empty"
    assert set(active_conditions(dispenser, SETTINGS, now=now())) == {"empty"}
    dispenser.paper_level, dispenser.status = 60, "jam"
    assert set(active_conditions(dispenser, SETTINGS, now=now())) == {"jam"}
    dispenser.status = "camera_fault"
    assert set(active_conditions(dispenser, SETTINGS, now=now())) == {"camera_fault"}
    later = now() + timedelta(minutes=4)
    assert "offline" in active_conditions(dispenser, SETTINGS, now=later)
    dispenser.enabled = False
    assert active_conditions(dispenser, SETTINGS, now=later) == {}


def test_low_paper_alert_is_raised_once_and_resolved_after_refill(
    app: Flask, client: FlaskClient, sent: list[AlertChange]
) -> None:
    dispenser = make_dispenser(make_site(), label="Lobby")
    key = enroll(client, dispenser)["device_key"]
    _beat(client, key, 80)
    assert _open(dispenser) == set() and sent == []
    _beat(client, key, 18)
    _beat(client, key, 15)
    assert _open(dispenser) == {"low_paper"}
    assert [(c.change, c.kind) for c in sent] == [("raised", "low_paper")]
    assert sent[0].label == "Lobby" and "18%" in sent[0].detail
    _beat(client, key, 0, "empty")
    assert _open(dispenser) == {"empty"}
    _beat(client, key, 100)
    assert _open(dispenser) == set()
    assert [(c.change, c.kind) for c in sent] == [
        ("raised", "low_paper"),
        ("raised", "empty"),
        ("resolved", "low_paper"),
        ("resolved", "empty"),
    ]
    history = db.session.query(Alert).filter_by(dispenser_id=dispenser.id).all()
    assert all(a.resolved_at is not None and a.is_open is None for a in history)


def test_a_new_alert_of_the_same_kind_can_follow_a_resolved_one(app: Flask) -> None:
    dispenser = make_dispenser(make_site(), status="jam", paper_level=50, last_heartbeat_at=now())
    assert [c.kind for c in evaluate_dispenser(db.session, dispenser, SETTINGS, now=now())] == [
        "jam"
    ]
    dispenser.status = "ok"
    assert [c.change for c in evaluate_dispenser(db.session, dispenser, SETTINGS, now=now())] == [
        "resolved"
    ]
    dispenser.status = "jam"
    assert [c.change for c in evaluate_dispenser(db.session, dispenser, SETTINGS, now=now())] == [
        "raised"
    ]
    assert db.session.query(Alert).filter_by(dispenser_id=dispenser.id).count() == 2


def _job_changes(app: Flask, at: datetime) -> list[tuple[str, str]]:
    report = run_fleet_job(app, now=at)
    assert report is not None
    return [(c.change, c.kind) for c in report.changes]


def test_offline_is_detected_by_the_fleet_job_and_cleared_by_a_heartbeat(
    app: Flask, client: FlaskClient, sent: list[AlertChange]
) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    _beat(client, key, 90)
    heard = dispenser.last_heartbeat_at
    assert heard is not None
    assert _job_changes(app, heard + timedelta(minutes=2)) == []
    dispenser.last_heartbeat_at = now() - timedelta(minutes=4)  # silent since
    db.session.commit()
    assert _job_changes(app, now()) == [("raised", "offline")]
    # Checked again: still offline, nothing new to send.
    assert _job_changes(app, now()) == []
    _beat(client, key, 90)
    assert _open(dispenser) == set()
    assert ("resolved", "offline") in [(c.change, c.kind) for c in sent]


def test_the_job_resolves_offline_alerts_a_heartbeat_left_open(app: Flask) -> None:
    make_dispenser(make_site(), status="ok", last_heartbeat_at=now())
    assert _job_changes(app, now() + timedelta(minutes=4)) == [("raised", "offline")]
    assert _job_changes(app, now()) == [("resolved", "offline")]  # heard within the limit


def test_dispensers_never_heard_from_are_not_offline(app: Flask) -> None:
    make_dispenser(make_site())
    assert _job_changes(app, now() + timedelta(days=1)) == []


def test_switching_a_dispenser_off_resolves_its_alerts(app: Flask) -> None:
    dispenser = make_dispenser(make_site(), status="jam", last_heartbeat_at=now())
    evaluate_dispenser(db.session, dispenser, SETTINGS, now=now())
    dispenser.enabled = False
    db.session.commit()
    assert _job_changes(app, now()) == [("resolved", "jam")]


def test_the_cli_check_runs_the_offline_detection(app: Flask, sent: list[AlertChange]) -> None:
    make_dispenser(make_site(), last_heartbeat_at=now() - timedelta(hours=1), status="ok")
    result = app.test_cli_runner().invoke(args=["alerts", "check"])
    assert result.exit_code == 0, result.output
    assert "alert changes: 1" in result.output
    assert [(c.change, c.kind) for c in sent] == [("raised", "offline")]


def test_log_notifier_writes_a_line_without_failing(caplog: pytest.LogCaptureFixture) -> None:
    change = AlertChange("raised", "jam", "abcdefgh2j", "Lobby", "Park", "paper jammed", now())
    with caplog.at_level("WARNING", logger="fairroll.alerts"):
        LogNotifier().send(change)
    assert "[fairroll] ALERT jam: Park / Lobby" in caplog.text


def test_a_low_dispenser_switched_off_and_on_gets_its_alert_back(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    _beat(client, key, 10)
    assert _open(dispenser) == {"low_paper"}
    dispenser.enabled = False
    db.session.commit()
    _job_changes(app, now())  # resolves the alerts of a switched-off dispenser
    assert _open(dispenser) == set()
    dispenser.enabled = True
    db.session.commit()
    _beat(client, key, 10)  # still low: the heartbeat raises it again
    assert _open(dispenser) == {"low_paper"}
