"""Changing sites and dispensers from the admin UI, with the rules that protect visitors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select

from backend.errors import ConflictError, InvalidInput
from backend.models import Dispenser, Site
from backend.services.sites import SitePolicy, validate_timezone
from backend.services.sql import Db


def update_site(
    session: Db,
    site: Site,
    *,
    name: str,
    timezone: str,
    contact: str,
    policy: SitePolicy,
    paper_baseline_m: int | None,
    face_outside_confirmed: bool,
) -> dict[str, Any]:
    """Apply a validated policy change; return {field: [old, new]} of what changed.

    Face mode may only be switched on when the operator confirms that the units are
    outside the restroom (2025 CAC/MPS measures: no face recognition inside restrooms).
    """
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("a site name has 1 to 120 characters")
    clash = session.scalar(select(Site.id).where(Site.name == name, Site.id != site.id))
    if clash is not None:
        raise ConflictError(f"a site named {name!r} already exists")
    if policy.face_mode_allowed and not site.face_mode_allowed and not face_outside_confirmed:
        raise InvalidInput(
            "face mode needs confirmation that the dispensers hang outside the restroom "
            "(at the entrance): face recognition inside restrooms is not allowed"
        )
    if paper_baseline_m is not None and not 0 < paper_baseline_m <= 100_000:
        raise InvalidInput("the paper baseline is a number of metres a day, 1 to 100000")
    if len(contact) > 2000:
        raise InvalidInput("the contact text has at most 2000 characters")
    wanted: dict[str, Any] = {
        "name": name,
        "timezone": validate_timezone(timezone.strip()),
        "contact": contact.strip(),
        "paper_baseline_m": paper_baseline_m,
        **asdict(policy),
    }
    changes = {
        key: [getattr(site, key), value]
        for key, value in wanted.items()
        if getattr(site, key) != value
    }
    for key, (_old, new) in changes.items():
        setattr(site, key, new)
    session.flush()
    return changes


def update_dispenser(
    session: Db, dispenser: Dispenser, *, label: str, enabled: bool, unrestricted: bool
) -> dict[str, Any]:
    """Change a dispenser's label, switch it on or off, or make it unrestricted."""
    label = label.strip()
    if len(label) > 120:
        raise InvalidInput("a label has at most 120 characters")
    wanted = {"label": label, "enabled": enabled, "unrestricted": unrestricted}
    changes = {
        key: [getattr(dispenser, key), value]
        for key, value in wanted.items()
        if getattr(dispenser, key) != value
    }
    for key, (_old, new) in changes.items():
        setattr(dispenser, key, new)
    session.flush()
    return changes
