"""Retention: raw data purged at the boundary, daily aggregates kept, counts unchanged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask

from backend.extensions import db
from backend.models import DailyAggregate, DeviceEvent, PaperReading, Voucher
from backend.services.aggregates import daily_counts
from backend.services.purge import purge_expired
from backend.services.stats import dispenses_per_day
from backend.services.vouchers import create_voucher_batch
from tests.factories import make_dispenser, make_site

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
RETENTION = timedelta(days=7)
CUTOFF = NOW - RETENTION


def _event(dispenser_id: int, at: datetime, method: str = "qr", kind: str = "dispense") -> None:
    db.session.add(
        DeviceEvent(
            dispenser_id=dispenser_id,
            event_id=uuid.uuid4().hex,
            kind=kind,
            method=method,
            occurred_at=at,
            received_at=at,
        )
    )


def test_events_before_the_cutoff_are_rolled_up_and_the_rest_kept(app: Flask) -> None:
    dispenser = make_dispenser(make_site())
    old_day = (CUTOFF - timedelta(days=1)).date()
    _event(dispenser.id, CUTOFF - timedelta(days=1))
    _event(dispenser.id, CUTOFF - timedelta(days=1, hours=1), method="face")
    _event(dispenser.id, CUTOFF - timedelta(days=1), kind="refuse")
    _event(dispenser.id, CUTOFF - timedelta(microseconds=1))  # just past: purged
    _event(dispenser.id, CUTOFF)  # exactly at the boundary: kept
    _event(dispenser.id, NOW - timedelta(hours=1))
    db.session.flush()
    before = daily_counts(db.session, first_day=old_day, last_day=NOW.date())

    result = purge_expired(db.session, now=NOW, retention=RETENTION)

    assert result.counts["device_event"] == 4
    assert db.session.query(DeviceEvent).count() == 2
    rows = {
        (a.day, a.method, a.kind): a.count
        for a in db.session.query(DailyAggregate).filter_by(dispenser_id=dispenser.id)
    }
    assert rows == {
        (old_day, "qr", "dispense"): 1,
        (old_day, "face", "dispense"): 1,
        (old_day, "qr", "refuse"): 1,
        (CUTOFF.date(), "qr", "dispense"): 1,
    }
    # Charts read aggregates plus raw events: the figures do not change with a purge.
    assert daily_counts(db.session, first_day=old_day, last_day=NOW.date()) == before


def test_purging_twice_adds_nothing_twice(app: Flask) -> None:
    dispenser = make_dispenser(make_site())
    _event(dispenser.id, CUTOFF - timedelta(hours=2))
    db.session.flush()
    purge_expired(db.session, now=NOW, retention=RETENTION)
    _event(dispenser.id, CUTOFF - timedelta(hours=3))  # uploaded late, after the first purge
    db.session.flush()
    purge_expired(db.session, now=NOW, retention=RETENTION)
    purge_expired(db.session, now=NOW, retention=RETENTION)
    aggregate = db.session.query(DailyAggregate).one()
    assert aggregate.count == 2


def test_the_roll_up_is_set_based_whatever_the_number_of_events(app: Flask) -> None:
    # A city's day is about 1.7 million events: none of them may pass through Python.
    from sqlalchemy import event, insert

    from backend.services.aggregates import roll_up_and_delete_events

    dispensers = [make_dispenser(make_site(f"Roll-up {n}")) for n in range(3)]
    db.session.execute(
        insert(DeviceEvent),
        [
            {
                "dispenser_id": dispensers[n % 3].id,
                "event_id": f"bulk{n}",
                "kind": "dispense",
                "method": ("qr", "code", "face")[n % 3],
                "occurred_at": CUTOFF - timedelta(hours=1 + n % 30),
                "received_at": CUTOFF,
                "face_offered": n % 2 == 0,
            }
            for n in range(3_000)
        ],
    )
    sent: list[str] = []

    def seen(*args: object) -> None:
        sent.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        deleted = roll_up_and_delete_events(db.session, before=CUTOFF)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert deleted == 3_000
    # PostgreSQL: one statement (delete, count, upsert); SQLite: the upsert, then the delete.
    assert len(sent) == (1 if db.engine.dialect.name == "postgresql" else 2), sent
    rows = db.session.query(DailyAggregate).all()
    assert sum(a.count for a in rows) == 3_000
    assert sum(a.face_offered for a in rows) == 1_500
    assert db.session.query(DeviceEvent).count() == 0


def test_paper_readings_and_old_vouchers_are_purged(app: Flask) -> None:
    site = make_site()
    dispenser = make_dispenser(site)
    db.session.add_all(
        [
            PaperReading(
                dispenser_id=dispenser.id, level=50, read_at=CUTOFF - timedelta(seconds=1)
            ),
            PaperReading(
                dispenser_id=dispenser.id, level=40, read_at=CUTOFF + timedelta(seconds=1)
            ),
        ]
    )
    old = create_voucher_batch(
        db.session,
        site,
        size=2,
        code_key=b"k" * 32,
        now=NOW - timedelta(days=40),
        valid_for=timedelta(days=30),
    )
    fresh = create_voucher_batch(
        db.session, site, size=2, code_key=b"k" * 32, now=NOW, valid_for=timedelta(days=30)
    )
    vouchers = db.session.query(Voucher).filter_by(batch_id=fresh.batch.id).all()
    vouchers[0].used_at = CUTOFF - timedelta(hours=1)
    vouchers[1].used_at = CUTOFF + timedelta(hours=1)
    db.session.flush()
    result = purge_expired(db.session, now=NOW, retention=RETENTION)
    assert result.counts["paper_reading"] == 1
    # Both expired ones of the old sheet, and the one used before the cutoff.
    assert result.counts["voucher"] == 3
    left = db.session.query(Voucher).all()
    assert [v.batch_id for v in left] == [fresh.batch.id]
    assert old.batch.id != fresh.batch.id


def test_daily_chart_covers_purged_days(app: Flask) -> None:
    site = make_site()
    dispenser = make_dispenser(site)
    for days_ago in (10, 9, 1):
        _event(dispenser.id, NOW - timedelta(days=days_ago))
    db.session.flush()
    purge_expired(db.session, now=NOW, retention=RETENTION)
    series = dispenses_per_day(db.session, today=NOW.date(), days=14, site_id=site.id)
    assert series.total() == 3
    assert series.values[-1] == {}
    assert series.values[-2] == {"qr": 1}


def test_the_purge_command_reports_counts(app: Flask) -> None:
    dispenser = make_dispenser(make_site())
    _event(dispenser.id, datetime.now(UTC) - timedelta(days=30))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge", "--no-export"])
    assert result.exit_code == 0, result.output
    assert "device_event=1" in result.output
    assert (
        db.session.query(DailyAggregate).one().day
        == (datetime.now(UTC) - timedelta(days=30)).date()
    )
    refused = app.test_cli_runner().invoke(args=["purge", "--days", "0"])
    assert refused.exit_code != 0 and "at least 1 day" in refused.output


def test_transparency_counts_survive_the_purge(app: Flask) -> None:
    from backend.services.transparency import dispense_counts_by_method

    site = make_site()
    dispenser = make_dispenser(site)
    for days_ago, method in ((20, "qr"), (20, "face"), (12, "voucher"), (2, "qr"), (45, "qr")):
        _event(dispenser.id, NOW - timedelta(days=days_ago), method=method)
    db.session.flush()
    since = NOW - timedelta(days=30)
    before = dispense_counts_by_method(db.session, site, since=since, now=NOW)
    purge_expired(db.session, now=NOW, retention=RETENTION)
    after = dispense_counts_by_method(db.session, site, since=since, now=NOW)
    assert after == before
    assert after["qr"] == 2 and after["face"] == 1 and after["voucher"] == 1
