"""Operator accounts: Argon2, two-factor login, throttling, CSRF, roles, sessions, CLI."""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from backend.admin.security import ADDRESS_LIMIT, AddressLimiter, RedisAddressLimiter
from backend.errors import InvalidInput
from backend.extensions import db
from backend.models import AuditEntry, Operator
from backend.services.operators import (
    FREE_LOGIN_FAILURES,
    LoginFailed,
    LoginLocked,
    check_password,
    check_totp,
    create_operator,
    set_active,
)
from tests.backend.fleet_helpers import (
    PASSWORD,
    csrf_from,
    make_operator,
    post_form,
    sign_in,
    totp_now,
)
from tests.factories import now
from tests.require import unavailable


def test_passwords_are_stored_as_argon2id_hashes(app: Flask) -> None:
    operator = make_operator()
    assert operator.password_hash.startswith("$argon2id$")
    assert PASSWORD not in operator.password_hash


def test_short_password_and_bad_email_are_refused(app: Flask) -> None:
    with pytest.raises(InvalidInput, match="at least 12"):
        create_operator(db.session, "a@b.example", "short", role="admin", now=now())
    with pytest.raises(InvalidInput, match="e-mail"):
        create_operator(db.session, "not-an-email", PASSWORD, role="admin", now=now())
    with pytest.raises(InvalidInput, match="role"):
        create_operator(db.session, "a@b.example", PASSWORD, role="root", now=now())


def test_wrong_passwords_lock_the_account_with_growing_waits(app: Flask) -> None:
    operator = make_operator()
    moment = now()
    for _ in range(FREE_LOGIN_FAILURES):
        with pytest.raises(LoginFailed):
            check_password(db.session, operator.email, "wrong password!", now=moment)
    with pytest.raises(LoginLocked) as locked:
        check_password(db.session, operator.email, PASSWORD, now=moment)
    assert locked.value.retry_after and locked.value.retry_after > 0
    later = moment + timedelta(minutes=16)
    assert check_password(db.session, operator.email, PASSWORD, now=later) is operator


def test_a_totp_code_is_accepted_once_only(app: Flask) -> None:
    operator = make_operator()
    moment = now()
    code = totp_now(operator, moment)
    check_totp(db.session, operator, code, now=moment)
    with pytest.raises(LoginFailed):
        check_totp(db.session, operator, code, now=moment)


def test_login_needs_password_and_totp(app: Flask, client: FlaskClient) -> None:
    operator = make_operator()
    assert client.get("/admin/").status_code == 302
    sign_in(client, operator)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Fleet" in page.get_data(as_text=True)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert db.session.query(AuditEntry).filter_by(action="login").count() == 1


def test_password_step_alone_does_not_open_the_admin(app: Flask, client: FlaskClient) -> None:
    operator = make_operator()
    token = csrf_from(client, "/admin/login")
    client.post(
        "/admin/login", data={"email": operator.email, "password": PASSWORD, "csrf_token": token}
    )
    assert client.get("/admin/").status_code == 302
    token = csrf_from(client, "/admin/login/totp")
    wrong = client.post("/admin/login/totp", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401
    assert client.get("/admin/").status_code == 302


def test_wrong_password_gives_one_vague_message(app: Flask, client: FlaskClient) -> None:
    make_operator()
    token = csrf_from(client, "/admin/login")
    for email in ("ops@city.example", "nobody@city.example"):
        response = client.post(
            "/admin/login", data={"email": email, "password": "nope nope nope", "csrf_token": token}
        )
        assert response.status_code == 401
        assert "wrong e-mail, password or code" in response.get_data(as_text=True)


def test_posts_without_the_csrf_token_are_refused(app: Flask, client: FlaskClient) -> None:
    operator = make_operator()
    sign_in(client, operator)
    response = client.post("/admin/sites", data={"name": "Sneaky"})
    assert response.status_code == 400


def test_maintainers_cannot_manage_sites(app: Flask, client: FlaskClient) -> None:
    sign_in(client, make_operator("m@city.example", role="maintainer"))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/refills").status_code == 200
    assert client.get("/admin/sites").status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_deactivating_an_operator_ends_their_session(app: Flask, client: FlaskClient) -> None:
    make_operator("boss@city.example")
    worker = make_operator("m@city.example", role="maintainer")
    sign_in(client, worker)
    set_active(db.session, worker, False)
    db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_the_last_admin_cannot_be_deactivated(app: Flask) -> None:
    only = make_operator()
    with pytest.raises(InvalidInput, match="last active admin"):
        set_active(db.session, only, False)


def test_first_login_of_a_new_operator_enrols_the_authenticator(
    app: Flask, client: FlaskClient
) -> None:
    created = create_operator(
        db.session, "new@city.example", PASSWORD, role="maintainer", now=now()
    )
    db.session.commit()
    token = csrf_from(client, "/admin/login")
    client.post(
        "/admin/login",
        data={"email": "new@city.example", "password": PASSWORD, "csrf_token": token},
    )
    page = client.get("/admin/login/totp").get_data(as_text=True)
    assert "data:image/svg+xml" in page and created.operator.totp_secret in page
    code = pyotp.TOTP(created.operator.totp_secret).now()
    token = csrf_from(client, "/admin/login/totp")  # the password step started a new session
    done = client.post("/admin/login/totp", data={"code": code, "csrf_token": token})
    assert done.status_code == 302
    assert db.session.get(Operator, created.operator.id).totp_enrolled_at is not None  # type: ignore[union-attr]


def test_cli_creates_an_admin_and_prints_the_otpauth_uri(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["users", "create-admin", "Chief@City.example", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/fairroll:chief%40city.example?secret=" in result.output
    assert PASSWORD not in result.output
    operator = db.session.query(Operator).filter_by(email="chief@city.example").one()
    assert operator.role == "admin" and operator.totp_enrolled_at is not None
    again = runner.invoke(
        args=["users", "create-admin", "chief@city.example", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert again.exit_code != 0 and "already exists" in again.output


def test_cli_refuses_a_weak_password(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["users", "create-admin", "x@city.example", "--password-stdin"], input="weak\n"
    )
    assert result.exit_code != 0 and "at least 12" in result.output


def test_one_address_is_limited_whatever_the_accounts(app: Flask, client: FlaskClient) -> None:
    app.extensions.pop("fairroll.login_limiter", None)
    token = csrf_from(client, "/admin/login")
    statuses = [
        client.post(
            "/admin/login",
            data={"email": f"u{i}@city.example", "password": "x" * 12, "csrf_token": token},
        ).status_code
        for i in range(ADDRESS_LIMIT + 1)
    ]
    assert statuses[:ADDRESS_LIMIT] == [401] * ADDRESS_LIMIT
    assert statuses[-1] == 429
    app.extensions.pop("fairroll.login_limiter", None)


def test_the_address_window_slides() -> None:
    limiter = AddressLimiter(limit=2, window=60)
    assert limiter.allow("a", 0) and limiter.allow("a", 1)
    assert not limiter.allow("a", 2)
    assert limiter.allow("b", 2)
    assert limiter.allow("a", 61)


def test_changing_the_password_signs_out_other_sessions(app: Flask) -> None:
    operator = make_operator()
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, operator)
    later = now() + timedelta(seconds=30)  # the next TOTP step: codes are single-use
    token = csrf_from(elsewhere, "/admin/login")
    elsewhere.post(
        "/admin/login", data={"email": operator.email, "password": PASSWORD, "csrf_token": token}
    )
    token = csrf_from(elsewhere, "/admin/login/totp")
    elsewhere.post(
        "/admin/login/totp", data={"code": totp_now(operator, later), "csrf_token": token}
    )
    assert elsewhere.get("/admin/").status_code == 200
    new = "a brand new long password"
    changed = post_form(
        here,
        "/admin/account/password",
        "/admin/account/password",
        current=PASSWORD,
        new=new,
        repeat=new,
    )
    assert changed.status_code == 302
    assert here.get("/admin/").status_code == 200
    assert elsewhere.get("/admin/").status_code == 302
    assert check_password(db.session, operator.email, new, now=now()) is operator


def test_logout_ends_the_session(app: Flask, client: FlaskClient) -> None:
    sign_in(client, make_operator())
    assert post_form(client, "/admin/logout", "/admin/").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_an_admin_creates_an_operator_who_then_enrols(app: Flask, client: FlaskClient) -> None:
    sign_in(client, make_operator())
    page = post_form(
        client, "/admin/operators", "/admin/operators", email="New@City.example", role="maintainer"
    )
    html = page.get_data(as_text=True)
    match = re.search(r'id="initial-password">([^<]+)<', html)
    assert match
    created = db.session.query(Operator).filter_by(email="new@city.example").one()
    assert created.role == "maintainer" and created.totp_enrolled_at is None
    assert check_password(db.session, "new@city.example", match.group(1), now=now()) is created
    entry = db.session.query(AuditEntry).filter_by(action="operator_created").one()
    assert match.group(1) not in entry.detail


def test_cli_changes_are_audited(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["sites", "create", "Audit Park"]).exit_code == 0
    assert runner.invoke(args=["dispensers", "create", "Audit Park"]).exit_code == 0
    actions = {(e.actor, e.action) for e in db.session.query(AuditEntry)}
    assert {("cli", "site_created"), ("cli", "dispenser_created")} <= actions


REDIS_URL = os.environ.get("FAIRROLL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_client() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        unavailable("REDIS", f"no Redis at {REDIS_URL}: {exc}")
    return client


def test_redis_limiter_is_shared_between_instances() -> None:
    client = _redis_client()
    address = f"198.51.100.{secrets.randbelow(250)}-{secrets.token_hex(4)}"
    first, second = RedisAddressLimiter(client, limit=3), RedisAddressLimiter(client, limit=3)
    # Two backend instances, one counter: the fourth attempt is refused whichever serves it.
    results = [
        first.allow(address, 1000.0),
        second.allow(address, 1001.0),
        first.allow(address, 1002.0),
        second.allow(address, 1003.0),
    ]
    assert results == [True, True, True, False]
    assert 0 < client.ttl(f"fairroll:login:{address}:{1000 // 300}") <= 300
    assert first.allow(address, 1000.0 + 300)  # the next window starts afresh
    client.close()


def test_redis_limiter_allows_when_redis_is_down() -> None:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    assert RedisAddressLimiter(client, limit=1).allow("203.0.113.9")
    client.close()
