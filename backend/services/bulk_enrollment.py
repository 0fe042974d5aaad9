"""Bulk enrollment: dispensers for many sites from one CSV, each with an enrollment code."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from backend.errors import InvalidInput
from backend.models import Site
from backend.services.sites import create_site, new_dispenser, new_enrollment_code
from backend.services.sql import Db

# A sheet is printed and carried by technicians; a city enrolls site by site.
MAX_ROWS = 2000
_TRUE = {"1", "yes", "true", "y"}
_FALSE = {"", "0", "no", "false", "n"}


@dataclass(frozen=True)
class EnrollmentRow:
    """One line of the CSV: the site's name, where the dispenser hangs, accessible or not."""

    line: int
    site: str
    label: str
    unrestricted: bool


@dataclass(frozen=True)
class EnrolledDispenser:
    """A dispenser just created, with its one-time enrollment code (never stored in clear)."""

    public_id: str
    site: str
    label: str
    unrestricted: bool
    code: str
    expires_at: datetime


def parse_enrollment_csv(text: str) -> list[EnrollmentRow]:
    """Read ``site,label[,unrestricted]`` rows (with that header); InvalidInput on a bad line.

    Every line is checked before anything is created, so a bad file creates nothing.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "site" not in header or "label" not in header:
        raise InvalidInput("the CSV needs a header line with the columns site,label[,unrestricted]")
    unknown = sorted(set(header) - {"site", "label", "unrestricted"})
    if unknown:
        raise InvalidInput(f"unknown CSV columns: {', '.join(unknown)}")
    reader.fieldnames = header
    rows: list[EnrollmentRow] = []
    seen: set[tuple[str, str]] = set()
    for record in reader:
        line = reader.line_num
        if None in record:
            raise InvalidInput(f"line {line}: more fields than columns")
        site = (record.get("site") or "").strip()
        label = (record.get("label") or "").strip()
        flag = (record.get("unrestricted") or "").strip().lower()
        if not site and not label:
            continue  # blank line
        if not site or len(site) > 120:
            raise InvalidInput(f"line {line}: a site name has 1 to 120 characters")
        if not label or len(label) > 120:
            raise InvalidInput(f"line {line}: a label has 1 to 120 characters")
        if flag not in _TRUE | _FALSE:
            raise InvalidInput(f"line {line}: unrestricted must be yes or no, not {flag!r}")
        if (site, label) in seen:
            raise InvalidInput(f"line {line}: {site} / {label} is listed twice")
        seen.add((site, label))
        rows.append(EnrollmentRow(line, site, label, flag in _TRUE))
        if len(rows) > MAX_ROWS:
            raise InvalidInput(f"at most {MAX_ROWS} dispensers per file; split it by site")
    if not rows:
        raise InvalidInput("the CSV lists no dispensers")
    return rows


def enroll_rows(
    session: Db, rows: list[EnrollmentRow], *, now: datetime, ttl: timedelta
) -> list[EnrolledDispenser]:
    """Create each row's dispenser (and any site not there yet, with the default policy).

    Flushes only: the caller commits once, so the whole file is enrolled or none of it.
    The dispensers, then their codes, are each written as one batched INSERT.
    """
    names = sorted({row.site for row in rows})
    sites = {site.name: site for site in session.scalars(select(Site).where(Site.name.in_(names)))}
    for name in names:
        if name not in sites:
            sites[name] = create_site(session, name, now=now)
    dispensers = [
        new_dispenser(sites[row.site], now=now, label=row.label, unrestricted=row.unrestricted)
        for row in rows
    ]
    session.add_all(dispensers)
    session.flush()
    codes = [new_enrollment_code(dispenser.id, now=now, ttl=ttl) for dispenser in dispensers]
    session.add_all(stored for _, stored in codes)
    session.flush()
    return [
        EnrolledDispenser(
            public_id=dispenser.public_id,
            site=dispenser.site.name,
            label=dispenser.label,
            unrestricted=dispenser.unrestricted,
            code=code,
            expires_at=now + ttl,
        )
        for dispenser, (code, _) in zip(dispensers, codes, strict=True)
    ]
