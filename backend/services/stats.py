"""Figures for the charts: dispenses by method per hour and day, paper against baseline."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from backend.models import Site
from backend.services.aggregates import daily_counts_by_site, hourly_counts
from backend.services.sql import Db
from backend.services.transparency import offered_dispenses, opt_out_counts
from protocol.events import EVENT_METHODS

METHOD_LABELS = {
    "qr": "phone (QR)",
    "code": "typed code",
    "face": "face",
    "voucher": "voucher",
    "unrestricted": "unrestricted",
}


@dataclass(frozen=True)
class Series:
    """Bars over time: one label per bar, and per bar the dispenses of each method."""

    labels: list[str]
    values: list[dict[str, int]]

    def total(self) -> int:
        """All dispenses in the series."""
        return sum(sum(bar.values()) for bar in self.values)

    def by_method(self) -> dict[str, int]:
        """Dispenses of each method over the whole series."""
        return {m: sum(bar.get(m, 0) for bar in self.values) for m in EVENT_METHODS}


def dispenses_per_hour(
    session: Db, *, now: datetime, hours: int = 24, site_id: int | None = None
) -> Series:
    """Dispenses by method in each of the last ``hours`` UTC hours (the current one last)."""
    current = now.replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    counts = hourly_counts(
        session, start=starts[0], end=current + timedelta(hours=1), site_id=site_id
    )
    values = [
        {m: counts[(start, m, "dispense")] for m in EVENT_METHODS if counts[(start, m, "dispense")]}
        for start in starts
    ]
    return Series([f"{s:%H}" for s in starts], values)


# (site id, UTC day, method, kind) -> events, from aggregates.daily_counts_by_site
SiteDayCounts = Counter[tuple[int, date, str, str]]


def last_days(today: date, days: int) -> list[date]:
    """The ``days`` UTC days ending with ``today``."""
    return [today - timedelta(days=d) for d in range(days - 1, -1, -1)]


def day_counts(session: Db, *, today: date, days: int, site_id: int | None = None) -> SiteDayCounts:
    """Per-site daily counts of the last ``days`` days (two queries for the whole fleet)."""
    first = today - timedelta(days=days - 1)
    return daily_counts_by_site(session, first_day=first, last_day=today, site_id=site_id)


def day_series(counts: SiteDayCounts, dates: list[date], site_id: int | None = None) -> Series:
    """Dispenses by method on each of ``dates``, for one site or all of them."""
    bars: dict[date, dict[str, int]] = {d: {} for d in dates}
    for (site, day, method, kind), total in counts.items():
        if kind == "dispense" and day in bars and (site_id is None or site == site_id):
            bars[day][method] = bars[day].get(method, 0) + total
    return Series([f"{d:%m-%d}" for d in dates], [bars[d] for d in dates])


def dispenses_per_day(
    session: Db, *, today: date, days: int = 14, site_id: int | None = None
) -> Series:
    """Dispenses by method on each of the last ``days`` UTC days (today last)."""
    counts = day_counts(session, today=today, days=days, site_id=site_id)
    return day_series(counts, last_days(today, days), site_id)


@dataclass(frozen=True)
class PaperUse:
    """Metres of paper used per day, against the sites' measured baseline (if any)."""

    labels: list[str]
    used_m: list[float]
    baseline_m: float | None


def paper_use(
    session: Db, counts: SiteDayCounts, dates: list[date], site_id: int | None = None
) -> PaperUse:
    """Paper dispensed per day (dispenses x portion length), and the summed baselines."""
    query = select(Site) if site_id is None else select(Site).where(Site.id == site_id)
    sites = {site.id: site for site in session.scalars(query)}
    used = dict.fromkeys(dates, 0.0)
    for (site, day, _method, kind), total in counts.items():
        if kind == "dispense" and day in used and site in sites:
            used[day] += total * sites[site].portion_cm / 100
    baselines = [s.paper_baseline_m for s in sites.values() if s.paper_baseline_m]
    return PaperUse(
        [f"{d:%m-%d}" for d in dates],
        [used[d] for d in dates],
        float(sum(baselines)) if baselines else None,
    )


@dataclass(frozen=True)
class OptOut:
    """Dispenses at sites that offer face mode, and how many of them were not by face."""

    non_face: int
    total: int

    def share(self) -> float | None:
        """The share of visitors who chose a non-face path, or None without data."""
        return self.non_face / self.total if self.total else None


def non_face_share(
    session: Db, *, since: date, now: datetime, site_id: int | None = None
) -> OptOut:
    """The opt-out figure: of dispenses where face was offered, the share not by face.

    "Offered" is what was recorded with each dispense, so the figure of past days never
    changes when a site turns face mode on or off.
    """
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    counts = offered_dispenses(session, since=start, now=now, site_id=site_id)
    non_face, total = opt_out_counts(counts)
    return OptOut(non_face, total)
