"""Refill forecasts from paper readings, and the maintainer's refill list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from backend.extensions import db
from backend.services.fleet_check import recompute_forecasts
from backend.services.forecast import (
    forecast_dispenser,
    forecast_from_readings,
    record_paper_reading,
    refill_list,
)
from tests.factories import make_dispenser, make_site

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def test_rate_and_times_follow_from_the_drop_since_the_first_reading() -> None:
    readings = [(T0, 100), (T0 + timedelta(hours=1), 90), (T0 + timedelta(hours=2), 80)]
    forecast = forecast_from_readings(readings, 80, now=T0 + timedelta(hours=2), low_percent=20)
    assert forecast.rate_per_hour == pytest.approx(10.0)
    assert forecast.low_at == T0 + timedelta(hours=8)  # 60 points to 20 % at 10 an hour
    assert forecast.empty_at == T0 + timedelta(hours=10)


def test_only_readings_since_the_last_refill_count() -> None:
    readings = [
        (T0, 50),
        (T0 + timedelta(hours=1), 10),  # fast drop before the refill: ignored
        (T0 + timedelta(hours=2), 100),  # refill
        (T0 + timedelta(hours=6), 80),
    ]
    forecast = forecast_from_readings(readings, 80, now=T0 + timedelta(hours=6), low_percent=20)
    assert forecast.rate_per_hour == pytest.approx(5.0)
    assert forecast.empty_at == T0 + timedelta(hours=22)


def test_time_without_change_slows_the_rate() -> None:
    readings = [(T0, 100), (T0 + timedelta(hours=1), 90)]
    forecast = forecast_from_readings(readings, 90, now=T0 + timedelta(hours=5), low_percent=20)
    assert forecast.rate_per_hour == pytest.approx(2.0)


def test_already_low_means_low_now() -> None:
    readings = [(T0, 40), (T0 + timedelta(hours=2), 10)]
    forecast = forecast_from_readings(readings, 10, now=T0 + timedelta(hours=2), low_percent=20)
    assert forecast.low_at == T0 + timedelta(hours=2)
    assert forecast.empty_at == T0 + timedelta(hours=2, minutes=40)


@pytest.mark.parametrize(
    ("readings", "level", "rate"),
    [
        ([], 50, None),  # nothing known
        ([(T0, 50)], None, None),  # no current level
        # a minute of history: too short to trust
        (
            [(T0 + timedelta(minutes=59), 60), (T0 + timedelta(minutes=59, seconds=30), 50)],
            50,
            None,
        ),
        ([(T0, 50)], 50, 0.0),  # nothing used
    ],
)
def test_no_forecast_without_enough_data(
    readings: list[tuple[datetime, int]], level: int | None, rate: float | None
) -> None:
    forecast = forecast_from_readings(readings, level, now=T0 + timedelta(hours=1), low_percent=20)
    assert forecast.rate_per_hour == rate
    assert forecast.empty_at is None and forecast.low_at is None


def test_readings_are_stored_only_when_the_level_changes(app: Flask) -> None:
    dispenser = make_dispenser(make_site())
    assert record_paper_reading(db.session, dispenser, 90, now=T0)
    assert not record_paper_reading(db.session, dispenser, 90, now=T0 + timedelta(minutes=1))
    assert record_paper_reading(db.session, dispenser, 85, now=T0 + timedelta(minutes=2))


def test_refill_list_orders_by_urgency_and_skips_full_dispensers(app: Flask) -> None:
    site = make_site()
    now = T0 + timedelta(hours=4)
    fast = make_dispenser(site, label="fast", paper_level=40, status="ok")
    slow = make_dispenser(site, label="slow", paper_level=90, status="ok")
    empty = make_dispenser(site, label="empty", paper_level=0, status="empty")
    make_dispenser(site, label="jammed", paper_level=70, status="jam")
    make_dispenser(site, label="off", paper_level=0, status="empty", enabled=False)
    for dispenser, start, end in ((fast, 100, 40), (slow, 100, 90), (empty, 30, 0)):
        record_paper_reading(db.session, dispenser, start, now=T0)
        record_paper_reading(db.session, dispenser, end, now=now)
    recompute_forecasts(db.session, now=now, changed_since=T0)  # the fleet job's step
    page = refill_list(db.session, now=now, low_percent=20, horizon=timedelta(hours=8))
    items = page.items
    assert page.total == 3
    labels = [item.dispenser.label for item in items]
    # fast: 15 %/h, low in 80 min: on the list; slow: 2.5 %/h, low in 28 h: not.
    assert set(labels) == {"fast", "empty", "jammed"}
    assert labels.index("empty") < labels.index("fast")
    reasons = {item.dispenser.label: item.reason for item in items}
    assert reasons["empty"] == "empty" and reasons["jammed"] == "jammed"
    assert reasons["fast"].startswith("low by ")
    forecast = forecast_dispenser(db.session, fast, now=now, low_percent=20)
    assert forecast.rate_per_hour == pytest.approx(15.0)


def test_refill_list_is_paginated_in_sql(app: Flask) -> None:
    site = make_site()
    for index in range(7):
        make_dispenser(site, label=f"d{index}", paper_level=index, status="ok")
    make_dispenser(site, label="full", paper_level=100, status="ok")
    pages = [
        refill_list(
            db.session,
            now=T0,
            low_percent=20,
            horizon=timedelta(hours=8),
            page=number,
            per_page=3,
        )
        for number in (1, 2, 3)
    ]
    assert [p.total for p in pages] == [7, 7, 7]
    labels = [[item.dispenser.label for item in p.items] for p in pages]
    assert labels == [["d0", "d1", "d2"], ["d3", "d4", "d5"], ["d6"]]
