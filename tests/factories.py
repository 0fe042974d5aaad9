"""Test data builders: sites, dispensers, enrolled devices.

Builders commit: the test client's requests run in the test's app context and so share
its session, and a request that fails rolls that session back. Commits only release a
savepoint; the ``app`` fixture rolls the whole test back at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import Dispenser, Site
from backend.services.sites import SitePolicy, create_dispenser, create_site, issue_enrollment_code


def midday_timezone() -> str:
    """A fixed-offset zone where it is about noon now: a test that reads "your next portion
    at HH:MM" minutes ahead never meets the local midnight ("tomorrow at HH:MM")."""
    offset = 12 - datetime.now(UTC).hour  # -11 .. +12 hours
    # The Etc zones' signs are inverted: Etc/GMT-5 is five hours ahead of UTC.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def now() -> datetime:
    """The wall clock, as services expect it."""
    return datetime.now(UTC)


def make_site(name: str = "Test Park", *, timezone: str = "UTC", **policy: Any) -> Site:
    """A site with the given policy overrides (committed: requests share the session)."""
    site = create_site(db.session, name, now=now(), timezone=timezone, policy=SitePolicy(**policy))
    db.session.commit()
    return site


def make_dispenser(site: Site, **fields: Any) -> Dispenser:
    """A dispenser at ``site``."""
    dispenser = create_dispenser(db.session, site, now=now())
    for key, value in fields.items():
        setattr(dispenser, key, value)
    db.session.commit()
    return dispenser


def enrollment_code(dispenser: Dispenser) -> str:
    """A fresh one-time enrollment code (committed so the client sees it)."""
    code = issue_enrollment_code(db.session, dispenser, now=now(), ttl=timedelta(hours=1))
    db.session.commit()
    return code


def enroll(client: FlaskClient, dispenser: Dispenser) -> dict[str, Any]:
    """Enroll a device for ``dispenser`` over HTTP; return the response JSON."""
    response = client.post(
        "/api/v1/device/enroll", json={"enrollment_code": enrollment_code(dispenser)}
    )
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def auth(device_key: str) -> dict[str, str]:
    """The Authorization header of a device."""
    return {"Authorization": f"Bearer {device_key}"}
