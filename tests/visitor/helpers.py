"""Helpers for visitor page tests: read forms and codes out of pages, tap "Get paper"."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from backend.extensions import db
from backend.models import Dispenser, Site
from tests.factories import make_site

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SPOKEN_CODE = re.compile(r'<span class="sr">([0-9 ]+)</span>')


def csrf_from(html: str) -> str:
    """The CSRF token of the page's form."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def code_from(html: str) -> str:
    """The typed code shown on a token screen."""
    match = _SPOKEN_CODE.search(html)
    assert match, "the page shows no code"
    return match.group(1).replace(" ", "")


def landing(client: FlaskClient, dispenser: Dispenser, **headers: str) -> TestResponse:
    """Open the dispenser's page as a scan of its sticker does."""
    return client.get(f"/d/{dispenser.public_id}", headers=headers)


def tap_get_paper(client: FlaskClient, dispenser: Dispenser, presence: str = "") -> TestResponse:
    """Open the page and press "Get paper"; return the POST's response (not followed)."""
    query = f"?p={presence}" if presence else ""
    page = client.get(f"/d/{dispenser.public_id}{query}")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    if presence:
        data["p"] = presence
    return client.post(f"/d/{dispenser.public_id}/token", data=data)


def token_page(client: FlaskClient, dispenser: Dispenser) -> TestResponse:
    """The token screen of ``dispenser``."""
    return client.get(f"/d/{dispenser.public_id}/token")


def make_site_with_contact(name: str, contact: str, **policy: Any) -> Site:
    """A site that publishes a contact (tests.factories.make_site takes policy only)."""
    site = make_site(name, **policy)
    site.contact = contact
    db.session.commit()
    return site
