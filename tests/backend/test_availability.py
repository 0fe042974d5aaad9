"""Whether a dispenser can serve a visitor, and which others at its site can."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from backend.extensions import db
from backend.services.availability import alternative_dispensers, dispenser_availability
from tests.factories import make_dispenser, make_site, now

HEARTBEAT = timedelta(seconds=60)


def test_offline_only_after_missed_heartbeats_and_never_for_a_silent_newcomer(app: Flask) -> None:
    at = now()
    site = make_site()
    newcomer = make_dispenser(site)
    fresh = make_dispenser(site, last_heartbeat_at=at - timedelta(seconds=170))
    silent = make_dispenser(site, last_heartbeat_at=at - timedelta(seconds=181))
    assert not dispenser_availability(newcomer, now=at, heartbeat=HEARTBEAT).offline
    assert not dispenser_availability(fresh, now=at, heartbeat=HEARTBEAT).offline
    assert dispenser_availability(silent, now=at, heartbeat=HEARTBEAT).offline


def test_reasons_it_cannot_dispense(app: Flask) -> None:
    site = make_site()
    cases = {
        "disabled": make_dispenser(site, enabled=False, status="ok"),
        "empty": make_dispenser(site, status="empty"),
        "jam": make_dispenser(site, status="jam"),
        None: make_dispenser(site, status="low"),
    }
    for reason, dispenser in cases.items():
        availability = dispenser_availability(dispenser, now=now(), heartbeat=HEARTBEAT)
        assert availability.reason == reason
        assert availability.can_dispense is (reason is None)


def test_alternatives_are_working_online_dispensers_of_the_same_site(app: Flask) -> None:
    at = now()
    site, other = make_site("Here"), make_site("There")
    this = make_dispenser(site, status="empty", label="A")
    good = make_dispenser(site, status="ok", label="B", last_heartbeat_at=at)
    make_dispenser(site, status="jam", label="C")
    make_dispenser(site, enabled=False, label="D")
    make_dispenser(site, status="ok", label="E", last_heartbeat_at=at - timedelta(hours=1))
    make_dispenser(other, status="ok", label="F")
    db.session.commit()
    found = alternative_dispensers(db.session, this, now=at, heartbeat=HEARTBEAT)
    assert [d.label for d in found] == [good.label]
