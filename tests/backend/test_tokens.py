"""Issuing tokens over HTTP: verification with device keys only, quotas, states, presence."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import AccessToken
from protocol.ids import dispenser_id_to_bytes
from protocol.token import decode_public_keys, parse_token, verify_token
from tests.factories import auth, enroll, make_dispenser, make_site, now


def _issue(client: FlaskClient, public_id: str, **body: str) -> tuple[int, dict, dict]:
    response = client.post(f"/api/v1/dispensers/{public_id}/tokens", json=body or None)
    return response.status_code, response.get_json(), dict(response.headers)


def test_token_verifies_with_only_the_public_keys_from_the_device_config(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    device = enroll(client, dispenser)
    status, body, headers = _issue(client, dispenser.public_id)
    assert status == 201
    assert "fr_visitor" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert len(body["code"]) == 6 and body["code"].isdigit()
    keys = decode_public_keys(device["config"]["token_keys"])
    claims = verify_token(
        body["token"], keys, dispenser_id=dispenser_id_to_bytes(dispenser.public_id), now=now()
    )
    assert claims.expires_at == datetime.fromisoformat(body["expires_at"])
    assert claims.expires_at - claims.issued_at == timedelta(seconds=120)


def test_backend_stores_only_a_hash_of_the_token_id(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    _, body, _ = _issue(client, dispenser.public_id)
    claims, _, _ = parse_token(body["token"])
    row = db.session.query(AccessToken).one()
    assert row.token_ref == claims.token_ref()
    stored = " ".join(str(v) for v in row.__dict__.values())
    assert claims.token_id.hex() not in stored and body["code"] not in stored


def test_second_token_in_the_window_is_refused_with_retry_after(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site(window_seconds=540)
    first, second = make_dispenser(site), make_dispenser(site)
    assert _issue(client, first.public_id)[0] == 201
    # The window spans the site: another dispenser of the same site refuses too.
    status, body, headers = _issue(client, second.public_id)
    assert status == 429
    assert body["error"]["code"] == "quota_exhausted"
    assert 500 <= int(headers["Retry-After"]) <= 541


def test_other_site_has_its_own_quota(app: Flask, client: FlaskClient) -> None:
    a = make_dispenser(make_site("A"))
    b = make_dispenser(make_site("B"))
    assert _issue(client, a.public_id)[0] == 201
    assert _issue(client, b.public_id)[0] == 201


def test_unused_expired_token_can_be_renewed_but_a_redeemed_one_cannot(
    app: Flask, client: FlaskClient
) -> None:
    app.config["FAIRROLL_TOKEN_TTL_SECONDS"] = 10
    app.config["FAIRROLL_CLOCK_SKEW_SECONDS"] = 0
    try:
        dispenser = make_dispenser(make_site(min_interval_seconds=0))
        device = enroll(client, dispenser)
        _, first, _ = _issue(client, dispenser.public_id)
        token = db.session.query(AccessToken).one()
        token.expires_at = now() - timedelta(seconds=1)  # it lapsed unused
        db.session.commit()
        status, second, _ = _issue(client, dispenser.public_id)
        assert status == 201 and second["token"] != first["token"]
        verified = client.post(
            "/api/v1/device/codes/verify",
            json={"code": second["code"]},
            headers=auth(device["device_key"]),
        )
        assert verified.status_code == 200
        assert _issue(client, dispenser.public_id)[0] == 429
    finally:
        app.config["FAIRROLL_TOKEN_TTL_SECONDS"] = 120
        app.config["FAIRROLL_CLOCK_SKEW_SECONDS"] = 30


def test_daily_cap_holds_even_with_no_window(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site(window_seconds=0, daily_cap=3, min_interval_seconds=0))
    statuses = [_issue(client, dispenser.public_id)[0] for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]


def test_unrestricted_dispenser_has_no_quota(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site(min_interval_seconds=0), unrestricted=True)
    assert [_issue(client, dispenser.public_id)[0] for _ in range(3)] == [201, 201, 201]


def test_empty_jammed_or_disabled_dispenser_answers_409(app: Flask, client: FlaskClient) -> None:
    site = make_site(window_seconds=0, daily_cap=100)
    for fields, reason in [
        ({"status": "empty"}, "empty"),
        ({"status": "jam"}, "jam"),
        ({"enabled": False}, "disabled"),
    ]:
        dispenser = make_dispenser(site, **fields)
        status, body, _ = _issue(client, dispenser.public_id)
        assert status == 409
        assert body["error"]["code"] == "dispenser_unavailable"
        assert body["error"]["reason"] == reason


def test_minimum_interval_per_dispenser(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site(window_seconds=0, min_interval_seconds=20))
    assert _issue(client, dispenser.public_id)[0] == 201
    other_visitor = app.test_client()
    status, body, headers = _issue(other_visitor, dispenser.public_id)
    assert status == 429 and body["error"]["code"] == "dispenser_busy"
    assert headers["Retry-After"] == "20"


def test_presence_code_is_required_when_the_site_says_so(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site(presence_required=True))
    status, body, _ = _issue(client, dispenser.public_id)
    assert (status, body["error"]["code"]) == (403, "presence_required")
    # A code no step around now accepts (the backend allows the previous step too).
    totp = pyotp.TOTP(dispenser.presence_secret)
    moment = time.time()
    live = {totp.at(moment + step * totp.interval) for step in (-2, -1, 0, 1)}
    wrong = next(c for c in ("000000", "123456", "654321", "111111", "999999") if c not in live)
    status, body, _ = _issue(app.test_client(), dispenser.public_id, presence=wrong)
    assert (status, body["error"]["code"]) == (403, "presence_required")
    code = totp.now()
    assert _issue(app.test_client(), dispenser.public_id, presence=code)[0] == 201


def test_unknown_or_malformed_dispenser_is_404(app: Flask, client: FlaskClient) -> None:
    for public_id in ["aaaaaaaaaa", "not-an-id", "x" * 300]:
        status, body, _ = _issue(client, public_id)
        assert status == 404 and body["error"]["code"] == "dispenser_unknown"


def test_bad_bodies_are_400_not_500(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site(min_interval_seconds=0))
    url = f"/api/v1/dispensers/{dispenser.public_id}/tokens"
    for kwargs in [
        {"data": "{not json", "content_type": "application/json"},
        {"data": "[1, 2]", "content_type": "application/json"},
        {"data": "presence=1", "content_type": "application/x-www-form-urlencoded"},
        {"json": {"presence": 123456}},
    ]:
        response = client.post(url, **kwargs)
        assert response.status_code == 400, kwargs
        assert response.get_json()["error"]["message"]


def test_forged_visitor_cookie_is_replaced_not_trusted(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    client.set_cookie("fr_visitor", "forged.value")
    status, _, headers = _issue(client, dispenser.public_id)
    assert status == 201 and "fr_visitor=" in headers["Set-Cookie"]


def test_a_new_token_never_gets_a_code_live_at_its_dispenser(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code is drawn again while a slot of the dispenser holds it (the slots' unique
    dispenser and code); only an endless run of clashes refuses."""
    from backend.services import tokens

    site = make_site(window_seconds=0, min_interval_seconds=0)
    dispenser = make_dispenser(site)
    # Endless clashes after "222222": on PostgreSQL a refused one-statement attempt draws
    # once more before the step-by-step path's tries.
    draws = itertools.chain(["111111", "111111", "222222"], itertools.repeat("111111"))
    monkeypatch.setattr(tokens, "numeric_code", lambda _digits: next(draws))
    first = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens", json={})
    second = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens", json={})
    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.get_json()["code"], second.get_json()["code"]) == ("111111", "222222")
    third = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens", json={})
    assert third.status_code == 429 and third.headers["Retry-After"] == "5"
    assert db.session.query(AccessToken).count() == 2


def test_a_live_token_from_before_slots_held_codes_is_never_given_its_code_again(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token minted before the slots kept codes holds its code in no slot: the token's
    own insert still refuses a live code, and the visitor is asked to try again."""
    from backend.services import tokens
    from backend.services.tokens import code_hash
    from backend.wiring import code_key

    site = make_site(window_seconds=0, min_interval_seconds=0)
    dispenser = make_dispenser(site)
    at = now()
    db.session.add(
        AccessToken(
            token_ref="from-before",
            dispenser_id=dispenser.id,
            site_id=site.id,
            key_id="0" * 8,
            code_hash=code_hash(code_key(), dispenser, "333333"),
            issued_at=at,
            expires_at=at + timedelta(seconds=60),
        )
    )
    db.session.commit()
    monkeypatch.setattr(tokens, "numeric_code", lambda _digits: "333333")
    answer = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens", json={})
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    assert db.session.query(AccessToken).count() == 1


def test_a_quota_refusal_names_the_moment_the_next_portion_is_due(app: Flask) -> None:
    """The page shows that moment itself: a wait counted from the request's whole-second
    clock, added to the page's later one, named the next minute when the portion fell due
    at :58 or :59 (the phone's two screens then disagreed by a minute)."""
    from backend.errors import QuotaExhausted
    from backend.services.tokens import TokenSettings, issue_token
    from backend.signing import key_ring

    dispenser = make_dispenser(make_site(window_seconds=540, min_interval_seconds=0))
    first_at = datetime(2026, 12, 6, 12, 0, 58, 900_000, tzinfo=now().tzinfo)

    def issue(at: datetime) -> object:
        return issue_token(
            db.session,
            dispenser,
            visitor_id="one visitor",
            presence_code=None,
            ring=key_ring(app),
            code_key=b"k" * 32,
            settings=TokenSettings(),
            now=at,
        )

    issue(first_at)
    db.session.commit()
    later = first_at + timedelta(seconds=5, microseconds=50_000)
    with pytest.raises(QuotaExhausted) as refused:
        issue(later)
    due = first_at.replace(microsecond=0) + timedelta(seconds=540)
    assert refused.value.available_at == due
    # Retry-After counts from the request's whole second, rounded up: never too early.
    whole_second = later.replace(microsecond=0)
    assert refused.value.retry_after == int((due - whole_second).total_seconds()) + 1


def test_the_slots_unique_code_is_recognised_on_either_database(app: Flask) -> None:
    """Two slots of a dispenser holding one code: the error is the slots' unique code
    (a retry), and no other integrity error is taken for it."""
    from sqlalchemy.exc import IntegrityError

    from backend.models import LiveTokenSlot
    from backend.services.live_tokens import is_code_clash

    dispenser = make_dispenser(make_site())
    db.session.add(LiveTokenSlot(dispenser_id=dispenser.id, slot=0, code_hash="same"))
    db.session.commit()
    for slot, code in ((1, "same"), (0, "other")):  # the clash; then a duplicate key
        db.session.add(LiveTokenSlot(dispenser_id=dispenser.id, slot=slot, code_hash=code))
        with pytest.raises(IntegrityError) as refused:
            db.session.flush()
        db.session.rollback()
        assert is_code_clash(refused.value) == (code == "same")
