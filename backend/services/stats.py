"""Figures for the charts: dispenses by method per hour and day, paper against baseline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from backend.models import Site
from backend.models.event import EVENT_METHODS
from backend.services.aggregates import daily_counts, hourly_counts
from backend.services.sql import Db

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


def dispenses_per_day(
    session: Db, *, today: date, days: int = 14, site_id: int | None = None
) -> Series:
    """Dispenses by method on each of the last ``days`` UTC days (today last)."""
    first = today - timedelta(days=days - 1)
    counts = daily_counts(session, first_day=first, last_day=today, site_id=site_id)
    dates = [first + timedelta(days=d) for d in range(days)]
    values = [
        {m: counts[(d, m, "dispense")] for m in EVENT_METHODS if counts[(d, m, "dispense")]}
        for d in dates
    ]
    return Series([f"{d:%m-%d}" for d in dates], values)


@dataclass(frozen=True)
class PaperUse:
    """Metres of paper used per day, against the sites' measured baseline (if any)."""

    labels: list[str]
    used_m: list[float]
    baseline_m: float | None


def paper_use(session: Db, *, today: date, days: int = 14, site_id: int | None = None) -> PaperUse:
    """Paper dispensed per day (dispenses x portion length), and the summed baselines."""
    sites = session.scalars(
        select(Site) if site_id is None else select(Site).where(Site.id == site_id)
    ).all()
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=d) for d in range(days)]
    used = [0.0] * days
    baselines = [s.paper_baseline_m for s in sites if s.paper_baseline_m]
    for site in sites:
        counts = daily_counts(session, first_day=first, last_day=today, site_id=site.id)
        for index, day in enumerate(dates):
            portions = sum(counts[(day, m, "dispense")] for m in EVENT_METHODS)
            used[index] += portions * site.portion_cm / 100
    return PaperUse(
        [f"{d:%m-%d}" for d in dates], used, float(sum(baselines)) if baselines else None
    )


@dataclass(frozen=True)
class OptOut:
    """Dispenses at sites that offer face mode, and how many of them were not by face."""

    non_face: int
    total: int

    def share(self) -> float | None:
        """The share of visitors who chose a non-face path, or None without data."""
        return self.non_face / self.total if self.total else None


def non_face_share(session: Db, series_by_site: dict[int, Series]) -> OptOut:
    """The opt-out figure: of dispenses where face was offered, the share not by face."""
    face_sites = set(session.scalars(select(Site.id).where(Site.face_mode_allowed)))
    non_face = total = 0
    for site_id, series in series_by_site.items():
        if site_id not in face_sites:
            continue
        methods = series.by_method()
        # Unrestricted dispensers ask nothing of anyone: no choice was made there.
        chosen = sum(n for m, n in methods.items() if m != "unrestricted")
        total += chosen
        non_face += chosen - methods["face"]
    return OptOut(non_face, total)
