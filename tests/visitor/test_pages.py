"""The dispenser page and the token screen, through the app (no browser)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from backend import create_app
from backend.extensions import db
from backend.models import AccessToken
from backend.visitor.token_cookie import COOKIE_NAME, HeldToken, load_token
from backend.visitor_cookie import COOKIE_NAME as VISITOR_COOKIE
from backend.visitor_cookie import read_visitor_id
from tests.conftest import app_config
from tests.factories import auth, enroll, make_dispenser, make_site
from tests.visitor.helpers import (
    code_from,
    csrf_from,
    landing,
    make_site_with_contact,
    tap_get_paper,
    token_page,
)


def test_landing_page_says_where_what_happens_and_what_is_kept(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site_with_contact("Riverside Park", "privacy@riverside.example")
    dispenser = make_dispenser(site, label="Gate 2, women's")
    response = landing(client, dispenser)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Riverside Park" in html and "Gate 2, women&#39;s" in html
    assert "Get paper" in html and 'method="post"' in html
    assert "Nothing that identifies you" in html
    # No account, login, phone number or payment: the only inputs are the hidden form secret.
    inputs = re.findall(r"<input[^>]*>", html)
    assert inputs and all('type="hidden"' in tag for tag in inputs)
    assert "<iframe" not in html and "<textarea" not in html and "<select" not in html
    # Nothing on the page comes from another origin (SVG's namespace, inline or in the
    # icon's data: URI, is a name, never fetched).
    for namespace in ('xmlns="http://www.w3.org/2000/svg"', "xmlns='http://www.w3.org/2000/svg'"):
        html = html.replace(namespace, "")
    assert "http://" not in html
    assert "https://" not in html


def test_get_paper_gives_a_code_the_dispenser_accepts(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    device = enroll(client, dispenser)
    response = tap_get_paper(client, dispenser)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/d/{dispenser.public_id}/token")
    screen = token_page(client, dispenser)
    assert screen.status_code == 200
    html = screen.get_data(as_text=True)
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="qr" role="img"' in html
    code = code_from(html)
    assert len(code) == 6
    verify = client.post(
        "/api/v1/device/codes/verify", json={"code": code}, headers=auth(device["device_key"])
    )
    assert verify.status_code == 200, verify.get_json()
    assert verify.get_json()["kind"] == "token"


def test_token_and_visitor_cookies_are_httponly_samesite_and_scoped(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    cookies = tap_get_paper(client, dispenser).headers.getlist("Set-Cookie")
    held = next(c for c in cookies if c.startswith(COOKIE_NAME + "="))
    assert "HttpOnly" in held and "SameSite=Lax" in held
    assert f"Path=/d/{dispenser.public_id}" in held
    visitor = next(c for c in cookies if c.startswith("fr_visitor="))
    assert "HttpOnly" in visitor and "SameSite=Lax" in visitor


def test_production_config_makes_the_form_session_cookie_secure(tmp_path: Path) -> None:
    config = app_config(f"sqlite:///{tmp_path / 'db'}", tmp_path, FAIRROLL_COOKIE_SECURE=True)
    made = create_app(config)
    assert made.config["SESSION_COOKIE_SECURE"] is True
    assert made.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_cookies_are_secure_when_configured(app: Flask, client: FlaskClient) -> None:
    # What create_app derives from FAIRROLL_COOKIE_SECURE (see the test above).
    app.config.update(FAIRROLL_COOKIE_SECURE=True, SESSION_COOKIE_SECURE=True)
    try:
        dispenser = make_dispenser(make_site())
        page = client.get(f"/d/{dispenser.public_id}?lang=zh", base_url="https://localhost")
        cookies = page.headers.getlist("Set-Cookie")
        assert cookies and all("Secure" in c for c in cookies)
        data = {"csrf_token": csrf_from(page.get_data(as_text=True))}
        posted = client.post(
            f"/d/{dispenser.public_id}/token", data=data, base_url="https://localhost"
        )
        assert posted.status_code == 303
        assert all("Secure" in c for c in posted.headers.getlist("Set-Cookie"))
    finally:
        app.config.update(FAIRROLL_COOKIE_SECURE=False, SESSION_COOKIE_SECURE=False)


def test_reload_and_rescan_show_the_same_live_code(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    tap_get_paper(client, dispenser)
    first = code_from(token_page(client, dispenser).get_data(as_text=True))
    assert code_from(token_page(client, dispenser).get_data(as_text=True)) == first
    rescan = landing(client, dispenser)
    assert rescan.status_code == 303 and rescan.headers["Location"].endswith("/token")
    # Posting again (back button, double tap) issues nothing new either.
    secret = csrf_from(token_page(client, dispenser).get_data(as_text=True))
    again = client.post(f"/d/{dispenser.public_id}/token", data={"csrf_token": secret})
    assert again.status_code == 303
    assert db.session.query(AccessToken).count() == 1
    assert code_from(token_page(client, dispenser).get_data(as_text=True)) == first


def test_post_without_csrf_token_issues_nothing(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    landing(client, dispenser)
    response = client.post(f"/d/{dispenser.public_id}/token", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert "Please tap again" in response.get_data(as_text=True)
    assert db.session.query(AccessToken).count() == 0


def test_token_page_without_a_code_goes_back_to_the_dispenser_page(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    response = token_page(client, dispenser)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/d/{dispenser.public_id}")


def test_tampered_token_cookie_is_ignored(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    client.set_cookie(COOKIE_NAME, "not.a.signed.value", path=f"/d/{dispenser.public_id}")
    assert token_page(client, dispenser).status_code == 303


def test_pages_send_a_strict_content_security_policy(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    headers = landing(client, dispenser).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_unknown_or_malformed_dispenser_gets_an_html_page(app: Flask, client: FlaskClient) -> None:
    for path in ("/d/aaaaaaaaaa", "/d/NOT-AN-ID", "/d/aaaaaaaaaa/token"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "We do not know this dispenser" in response.get_data(as_text=True)


def test_unrestricted_dispenser_says_there_is_no_limit(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site(), unrestricted=True)
    html = landing(client, dispenser).get_data(as_text=True)
    assert "This dispenser has no limit" in html


def test_the_database_keeps_nothing_that_identifies_the_visitor(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    agent = "Mozilla/5.0 (Linux; Android 14; Pixel 8) UniqueAgent/42"
    client.get(f"/d/{dispenser.public_id}", headers={"User-Agent": agent})
    posted = tap_get_paper(client, dispenser)
    html = token_page(client, dispenser).get_data(as_text=True)
    code = code_from(html)
    raw_cookie = client.get_cookie(VISITOR_COOKIE)
    assert raw_cookie is not None
    held_cookie = posted.headers.getlist("Set-Cookie")[0].split(";")[0]
    with app.test_request_context(headers={"Cookie": f"{VISITOR_COOKIE}={raw_cookie.value}"}):
        visitor_id = read_visitor_id()
    with app.test_request_context(headers={"Cookie": held_cookie}):
        held = load_token(dispenser.public_id)
    assert visitor_id and isinstance(held, HeldToken)
    stored = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(table.select()):
            stored.extend(str(value) for value in row)
    everything = " ".join(stored)
    for secret in (visitor_id, code, held.token, "127.0.0.1", "UniqueAgent"):
        assert secret not in everything
