"""Builders for fleet-operation tests: operators, signed-in clients, heartbeats."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pyotp
from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import Operator
from backend.services.operators import create_operator
from tests.factories import now

PASSWORD = "correct horse battery staple"


def make_operator(email: str = "ops@city.example", role: str = "admin") -> Operator:
    """An operator with the test password and an enrolled authenticator (committed)."""
    created = create_operator(db.session, email, PASSWORD, role=role, now=now(), totp_enrolled=True)
    db.session.commit()
    return created.operator


def csrf_from(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on ``path``."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def totp_now(operator: Operator, at: datetime | None = None) -> str:
    """The operator's current TOTP code."""
    return str(pyotp.TOTP(operator.totp_secret).at(at or now()))


def sign_in(client: FlaskClient, operator: Operator, password: str = PASSWORD) -> None:
    """Both login steps; asserts that the fleet view is reached."""
    # The per-address limiter lives in the (session-wide) app: start each sign-in afresh.
    client.application.extensions.pop("fairroll.login_limiter", None)
    token = csrf_from(client, "/admin/login")
    first = client.post(
        "/admin/login", data={"email": operator.email, "password": password, "csrf_token": token}
    )
    assert first.status_code == 302, first.get_data(as_text=True)
    assert first.headers["Location"].endswith("/admin/login/totp")
    token = csrf_from(client, "/admin/login/totp")
    second = client.post(
        "/admin/login/totp", data={"code": totp_now(operator), "csrf_token": token}
    )
    assert second.status_code == 302, second.get_data(as_text=True)
    assert second.headers["Location"].endswith("/admin/")


def post_form(client: FlaskClient, path: str, form_page: str, **data: Any) -> Any:
    """POST a form with the CSRF token taken from ``form_page``."""
    return client.post(path, data={"csrf_token": csrf_from(client, form_page), **data})
