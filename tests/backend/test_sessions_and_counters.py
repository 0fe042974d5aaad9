"""Sessions end on the server; failure budgets are never refilled by a success; the audit
log never stores what was typed as an unknown e-mail. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import AuditEntry, Operator, Site
from backend.services.codes import DISPENSER_BUDGET, FREE_FAILURES
from backend.services.live_tokens import DEFAULT_LIVE_TOKEN_CAP as LIVE_TOKEN_CAP
from backend.services.sites import DEFAULT_MIN_INTERVAL_SECONDS
from tests.backend.fleet_helpers import PASSWORD, csrf_from, make_operator, post_form, totp_now
from tests.factories import auth, enroll, make_dispenser, make_site, now


def _sign_in_at(client: FlaskClient, operator: Operator, at: datetime) -> None:
    """Both login steps with the TOTP code of ``at`` (each code signs in once only)."""
    client.application.extensions.pop("fairroll.login_limiter", None)
    token = csrf_from(client, "/admin/login")
    client.post(
        "/admin/login", data={"email": operator.email, "password": PASSWORD, "csrf_token": token}
    )
    token = csrf_from(client, "/admin/login/totp")
    done = client.post(
        "/admin/login/totp", data={"code": totp_now(operator, at), "csrf_token": token}
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/")


def _signed_in_twice(app: Flask, operator: Operator) -> tuple[FlaskClient, FlaskClient]:
    here, elsewhere = app.test_client(), app.test_client()
    _sign_in_at(here, operator, now())
    _sign_in_at(elsewhere, operator, now() + timedelta(seconds=30))
    assert here.get("/admin/").status_code == 200
    assert elsewhere.get("/admin/").status_code == 200
    return here, elsewhere


def test_a_cookie_saved_before_logout_gets_the_sign_in_page(app: Flask) -> None:
    operator = make_operator()
    client = app.test_client()
    _sign_in_at(client, operator, now())
    csrf = csrf_from(client, "/admin/sites")
    saved = client.get_cookie("session")
    assert saved is not None
    assert post_form(client, "/admin/logout", "/admin/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", saved.value)
    audit = replay.get("/admin/audit")
    assert audit.status_code == 302 and audit.headers["Location"].endswith("/admin/login")
    created = replay.post("/admin/sites", data={"name": "Replayed", "csrf_token": csrf})
    assert created.status_code == 302 and created.headers["Location"].endswith("/admin/login")
    assert db.session.scalar(db.select(Site).where(Site.name == "Replayed")) is None


def test_logout_ends_the_operators_sessions_in_every_browser(app: Flask) -> None:
    here, elsewhere = _signed_in_twice(app, make_operator())
    post_form(here, "/admin/logout", "/admin/")
    assert elsewhere.get("/admin/").status_code == 302


def test_a_role_change_ends_that_operators_sessions(app: Flask) -> None:
    boss = make_operator("boss@city.example")
    worker = make_operator("w@city.example", role="admin")
    boss_client, worker_client = app.test_client(), app.test_client()
    _sign_in_at(boss_client, boss, now())
    _sign_in_at(worker_client, worker, now())
    assert worker_client.get("/admin/audit").status_code == 200
    changed = post_form(
        boss_client, f"/admin/operators/{worker.id}/role", "/admin/operators", role="maintainer"
    )
    assert changed.status_code == 302
    assert worker_client.get("/admin/").status_code == 302
    db.session.refresh(worker)
    assert worker.role == "maintainer"
    assert boss_client.get("/admin/").status_code == 200


def test_deactivation_ends_sessions_in_every_browser(app: Flask) -> None:
    boss = make_operator("boss@city.example")
    worker = make_operator("w@city.example", role="maintainer")
    boss_client = app.test_client()
    _sign_in_at(boss_client, boss, now())
    first, second = _signed_in_twice(app, worker)
    post_form(boss_client, f"/admin/operators/{worker.id}/active", "/admin/operators", active="0")
    assert first.get("/admin/").status_code == 302
    assert second.get("/admin/").status_code == 302


def test_a_just_used_totp_code_says_so_after_the_right_password(app: Flask) -> None:
    operator = make_operator()
    first, second = app.test_client(), app.test_client()
    moment = now()
    _sign_in_at(first, operator, moment)
    token = csrf_from(second, "/admin/login")
    second.post(
        "/admin/login", data={"email": operator.email, "password": PASSWORD, "csrf_token": token}
    )
    token = csrf_from(second, "/admin/login/totp")
    again = second.post(
        "/admin/login/totp", data={"code": totp_now(operator, moment), "csrf_token": token}
    )
    assert again.status_code == 401
    assert "this code was just used: wait for the next one" in again.get_data(as_text=True)
    db.session.refresh(operator)
    assert operator.failed_logins == 0  # the right code is not a failure


def test_failed_login_audits_only_existing_operators(app: Flask, client: FlaskClient) -> None:
    operator = make_operator()
    for email in ("my secret password", "stranger@city.example", operator.email.upper()):
        client.application.extensions.pop("fairroll.login_limiter", None)
        token = csrf_from(client, "/admin/login")
        client.post(
            "/admin/login", data={"email": email, "password": "wrong pass", "csrf_token": token}
        )
    actors = db.session.scalars(
        db.select(AuditEntry.actor)
        .where(AuditEntry.action == "login_failed")
        .order_by(AuditEntry.id)
    ).all()
    assert actors == ["unknown", "unknown", operator.email]


def test_redeeming_own_codes_never_refills_the_wrong_code_budget(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=0, daily_cap=1000, min_interval_seconds=0))
    key = enroll(client, dispenser)["device_key"]
    statuses = []
    for _ in range(FREE_FAILURES + 4):
        issued = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()
        wrong = "000000" if issued["code"] != "000000" else "111111"
        for code in (wrong, issued["code"]):
            answer = client.post(
                "/api/v1/device/codes/verify", headers=auth(key), json={"code": code}
            )
            statuses.append(answer.status_code)
    wrong_answers = statuses[0::2]
    right_answers = statuses[1::2]
    # Every wrong code before the budget was spent was checked; then every code waits.
    assert wrong_answers == [422] * FREE_FAILURES + [429] * 4
    assert right_answers == [200] * (FREE_FAILURES - 1) + [429] * 5
    assert DISPENSER_BUDGET.per_hour() == 18


def test_a_client_that_drops_its_cookie_gets_at_most_the_live_token_cap(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=0, daily_cap=1000, min_interval_seconds=0))
    url = f"/api/v1/dispensers/{dispenser.public_id}/tokens"
    answers = []
    for _ in range(LIVE_TOKEN_CAP + 5):
        client.delete_cookie("fr_visitor")
        answers.append(client.post(url))
    assert [a.status_code for a in answers] == [201] * LIVE_TOKEN_CAP + [429] * 5
    refused = answers[-1]
    assert refused.get_json()["error"]["code"] == "dispenser_busy"
    assert 1 <= int(refused.headers["Retry-After"]) <= app.config["FAIRROLL_TOKEN_TTL_SECONDS"]


def test_the_default_policy_gives_one_portion_per_interval_at_a_dispenser(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    assert make_site("Other").min_interval_seconds == DEFAULT_MIN_INTERVAL_SECONDS == 20
    url = f"/api/v1/dispensers/{dispenser.public_id}/tokens"
    answers = []
    for _ in range(5):
        client.delete_cookie("fr_visitor")
        answers.append(client.post(url))
    assert [a.status_code for a in answers] == [201] + [429] * 4
    assert int(answers[-1].headers["Retry-After"]) == DEFAULT_MIN_INTERVAL_SECONDS
