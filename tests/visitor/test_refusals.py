"""Refusals on the visitor pages: quota, empty/offline dispensers, presence, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from backend.extensions import db
from backend.models import AccessToken
from backend.services.tokens import code_hash
from backend.visitor import pages
from backend.visitor.token_cookie import COOKIE_NAME, HeldToken, save_token
from backend.wiring import code_key
from tests.factories import make_dispenser, make_site, midday_timezone, now
from tests.visitor.helpers import (
    code_from,
    csrf_from,
    landing,
    make_site_with_contact,
    tap_get_paper,
    token_page,
)


def test_quota_reached_says_when_and_offers_the_staff_voucher(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site_with_contact(
        "Quota Park", "help@quota.example", window_seconds=540, timezone=midday_timezone()
    )
    first, second = make_dispenser(site), make_dispenser(site)
    assert tap_get_paper(client, first).status_code == 303
    # At another dispenser of the same site (its code cookie is not sent there).
    refused = tap_get_paper(client, second)
    assert refused.status_code == 429
    assert 500 <= int(refused.headers["Retry-After"]) <= 541
    html = refused.get_data(as_text=True)
    assert "You have had your portion" in html
    assert "Your next portion: from" in html and "in 9 minutes" in html
    assert "voucher" in html and "help@quota.example" in html


def test_daily_cap_reached_says_tomorrow(app: Flask, client: FlaskClient) -> None:
    site = make_site("Cap Park", window_seconds=0, daily_cap=1)
    first, second = make_dispenser(site), make_dispenser(site)
    tap_get_paper(client, first)
    html = tap_get_paper(client, second).get_data(as_text=True)
    assert "Your next portion: tomorrow from" in html


def test_empty_dispenser_says_so_and_points_to_another(app: Flask, client: FlaskClient) -> None:
    site = make_site("Empty Park")
    empty = make_dispenser(site, status="empty", label="Men's, left")
    make_dispenser(site, status="ok", label="Women's, right")
    make_dispenser(site, status="jam", label="Broken one")
    response = landing(client, empty)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "This dispenser is out of paper" in html
    assert "Women&#39;s, right" in html and "Broken one" not in html
    assert "Get paper" not in html.split("</h1>")[1]


def test_switched_off_dispenser_without_alternatives(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site("Lonely Park"), enabled=False)
    html = landing(client, dispenser).get_data(as_text=True)
    assert "This dispenser is switched off" in html
    assert "There is no other working dispenser" in html


def test_dispenser_emptied_after_the_page_loaded_refuses_politely(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    secret = csrf_from(landing(client, dispenser).get_data(as_text=True))
    dispenser.status = "empty"
    db.session.commit()
    response = client.post(f"/d/{dispenser.public_id}/token", data={"csrf_token": secret})
    assert response.status_code == 503
    assert "out of paper" in response.get_data(as_text=True)


def test_a_refusal_page_shows_the_dispenser_as_the_refusal_found_it(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It ran out between the token request's first load and its mint (a heartbeat from
    the dispenser said so meanwhile): the page agrees with the refusal, from the state
    the mint found, and points to the other dispenser; not the state first loaded."""
    app = committing_postgres_app
    with app.app_context():
        site = make_site("Race Park")
        racing = make_dispenser(site, status="ok", label="Left stall", last_heartbeat_at=now())
        make_dispenser(site, status="ok", label="Right stall", last_heartbeat_at=now())
        db.session.commit()
        public_id = racing.public_id
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        client = app.test_client()
        secret = csrf_from(landing(client, racing).get_data(as_text=True))
        first_load = pages.find_dispenser_to_issue

        def loaded_then_emptied(session: object, wanted: str) -> object:
            found = first_load(session, wanted)  # type: ignore[arg-type]
            with psycopg.connect(url, autocommit=True) as other:
                other.execute(
                    "UPDATE dispenser SET status = 'empty' WHERE public_id = %s", (wanted,)
                )
            return found

        monkeypatch.setattr(pages, "find_dispenser_to_issue", loaded_then_emptied)
        response = client.post(f"/d/{public_id}/token", data={"csrf_token": secret})
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "This dispenser is out of paper" in html
    assert "Right stall" in html


def test_offline_dispenser_still_gives_a_qr_and_says_typed_codes_wait(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site("Offline Park")
    silent = make_dispenser(site, status="ok", last_heartbeat_at=now() - timedelta(hours=1))
    make_dispenser(site, status="ok", label="Entrance", last_heartbeat_at=now())
    html = landing(client, silent).get_data(as_text=True)
    assert "lost its network connection" in html and "Entrance" in html
    assert tap_get_paper(client, silent).status_code == 303
    assert "lost its network connection" in token_page(client, silent).get_data(as_text=True)


def test_presence_required_asks_for_the_screen_code(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site("Screen Park", presence_required=True))
    html = landing(client, dispenser).get_data(as_text=True)
    assert "Scan the code on the dispenser's screen." in html
    assert 'name="csrf_token"' not in html  # no "Get paper" without the screen's code
    wrong = tap_get_paper(client, dispenser, presence="000000")
    assert wrong.status_code == 403
    assert "changing QR code" in wrong.get_data(as_text=True)
    current = pyotp.TOTP(dispenser.presence_secret).at(datetime.now(UTC))
    assert tap_get_paper(client, dispenser, presence=current).status_code == 303


def test_min_interval_at_a_dispenser_asks_to_wait(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site("Busy Park", min_interval_seconds=60))
    dispenser.last_issued_at = now()
    db.session.commit()
    response = tap_get_paper(client, dispenser)
    assert response.status_code == 429
    assert "just gave out paper" in response.get_data(as_text=True)


def _hold(client: FlaskClient, app: Flask, public_id: str, expires_at: datetime) -> None:
    """Put a held code on the "phone" directly, as the app would have."""
    with app.test_request_context():
        response = app.response_class()
        save_token(response, HeldToken(public_id, "T" * 152, "123456", expires_at), now=now())
        value = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    client.set_cookie(COOKIE_NAME, value, path=f"/d/{public_id}")


def test_expired_code_shows_expired_and_a_new_code_action(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    _hold(client, app, dispenser.public_id, now() - timedelta(minutes=2))
    response = token_page(client, dispenser)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "This code has expired" in html and "Get a new code" in html
    assert 'class="qr"' not in html  # an expired code is not shown as scannable


def test_just_expired_code_waits_until_the_device_stops_accepting_it(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    _hold(client, app, dispenser.public_id, now() - timedelta(seconds=5))
    html = token_page(client, dispenser).get_data(as_text=True)
    assert "A new code can be issued in" in html
    # Asking early shows the same screen again rather than a quota refusal.
    response = client.post(f"/d/{dispenser.public_id}/token", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/token")
    assert db.session.query(AccessToken).count() == 0


def test_new_code_after_an_unused_one_expired_is_granted(app: Flask, client: FlaskClient) -> None:
    app.config["FAIRROLL_CLOCK_SKEW_SECONDS"] = 0
    try:
        dispenser = make_dispenser(make_site(window_seconds=540, min_interval_seconds=0))
        tap_get_paper(client, dispenser)
        old_code = code_from(token_page(client, dispenser).get_data(as_text=True))
        row = db.session.query(AccessToken).one()
        row.expires_at = now() - timedelta(seconds=1)  # it lapsed unused
        db.session.commit()
        _hold(client, app, dispenser.public_id, row.expires_at)
        html = token_page(client, dispenser).get_data(as_text=True)
        renewed = client.post(
            f"/d/{dispenser.public_id}/token", data={"csrf_token": csrf_from(html)}
        )
        assert renewed.status_code == 303
        new_code = code_from(token_page(client, dispenser).get_data(as_text=True))
        old_row, new_row = db.session.query(AccessToken).order_by(AccessToken.id).all()
        # The page shows the new token's code (matched through its stored hash), and the
        # new token is live while the old one stays lapsed and unredeemed.
        key = app_code_key(app)
        assert old_row.code_hash == code_hash(key, dispenser, old_code)
        assert new_row.code_hash == code_hash(key, dispenser, new_code)
        assert new_row.token_ref != old_row.token_ref
        assert new_row.expires_at > now() > old_row.expires_at
        assert old_row.redeemed_at is None and new_row.redeemed_at is None
    finally:
        app.config["FAIRROLL_CLOCK_SKEW_SECONDS"] = 30


def test_database_outage_is_a_page_not_json(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispenser = make_dispenser(make_site())

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr("backend.visitor.pages.find_dispenser", unreachable)
    response = landing(client, dispenser)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "5"
    assert "not reachable right now" in response.get_data(as_text=True)


def test_no_automatic_renewal_while_the_dispenser_is_offline(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site("Quiet Park")
    online = make_dispenser(site, last_heartbeat_at=now())
    offline = make_dispenser(site, last_heartbeat_at=now() - timedelta(hours=1))
    tap_get_paper(client, online)
    assert 'data-auto-renew="yes"' in token_page(client, online).get_data(as_text=True)
    client.delete_cookie("fr_visitor")  # another visitor
    tap_get_paper(client, offline)
    assert 'data-auto-renew="no"' in token_page(client, offline).get_data(as_text=True)


def app_code_key(app: Flask) -> bytes:
    """The app's typed-code hashing key, as the handlers derive it."""
    with app.test_request_context():
        return code_key()
