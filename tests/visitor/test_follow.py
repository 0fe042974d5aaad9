"""The phone follows its token: the status poll and the token screen after a dispense."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.extensions import db
from backend.models import AccessToken, Dispenser
from backend.visitor.follow import held_ref
from backend.visitor.token_cookie import load_token
from tests.factories import auth, enroll, make_dispenser, make_site, midday_timezone, now
from tests.visitor.helpers import code_from, csrf_from, landing, tap_get_paper, token_page


def _status(client: FlaskClient, dispenser: Dispenser, **headers: str) -> dict[str, object]:
    response = client.get(f"/d/{dispenser.public_id}/token/status", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body: dict[str, object] = response.get_json()
    return body


def _get_code(client: FlaskClient, dispenser: Dispenser) -> str:
    assert tap_get_paper(client, dispenser).status_code == 303
    return code_from(token_page(client, dispenser).get_data(as_text=True))


def _held_ref(app: Flask, client: FlaskClient, dispenser: Dispenser) -> str:
    cookie = client.get_cookie("fr_code", path=f"/d/{dispenser.public_id}")
    assert cookie is not None
    with app.test_request_context(headers={"Cookie": f"fr_code={cookie.value}"}):
        held = load_token(dispenser.public_id)
        assert held is not None
        ref = held_ref(held)
    assert ref is not None
    return ref


def _type_code(client: FlaskClient, key: str, code: str) -> None:
    answer = client.post("/api/v1/device/codes/verify", json={"code": code}, headers=auth(key))
    assert answer.status_code == 200, answer.get_json()


def _shift_expiry(ref: str, seconds: int) -> None:
    db.session.execute(
        update(AccessToken)
        .where(AccessToken.token_ref == ref)
        .values(expires_at=now() + timedelta(seconds=seconds))
    )
    db.session.commit()


def test_a_live_code_is_live_and_the_poll_never_carries_the_code(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    code = _get_code(client, dispenser)
    body = _status(client, dispenser)
    assert body["state"] == "live" and body["poll"] == 2
    response = client.get(f"/d/{dispenser.public_id}/token/status")
    raw = response.get_data(as_text=True)
    assert code not in raw
    assert response.headers["Cache-Control"] == "private, no-cache"
    # Unchanged since the last poll: 304 without a body, cheap on a weak network.
    again = client.get(
        f"/d/{dispenser.public_id}/token/status",
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert again.status_code == 304 and again.get_data() == b""


def test_a_typed_code_redemption_turns_the_screen_to_paper_given_with_the_next_time(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=540, timezone=midday_timezone()))
    device = enroll(client, dispenser)
    code = _get_code(client, dispenser)
    _type_code(client, device["device_key"], code)
    body = _status(client, dispenser)
    assert body["state"] == "given" and body["poll"] == 0
    assert isinstance(body["next_in"], int) and 500 < body["next_in"] <= 541
    assert "Your next portion: from" in str(body["next_text"])
    assert "in 9 minutes" in str(body["next_text"])
    html = token_page(client, dispenser).get_data(as_text=True)
    assert "Paper given" in html and "in 9 minutes" in html
    assert code not in html.replace(" ", "")  # the spent code is not shown again
    assert 'class="qr"' not in html


def test_asking_again_after_the_dispense_gets_the_refusal_with_the_next_time_at_once(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=540, timezone=midday_timezone()))
    device = enroll(client, dispenser)
    _type_code(client, device["device_key"], _get_code(client, dispenser))
    # A second scan of the sticker shows "paper given", never the spent code.
    rescan = landing(client, dispenser)
    assert rescan.status_code == 303
    screen = client.get(rescan.headers["Location"]).get_data(as_text=True)
    assert "Paper given" in screen
    # A tap on "Get paper" (any form of the page) meets the quota's refusal at once.
    again = client.post(f"/d/{dispenser.public_id}/token", data={"csrf_token": csrf_from(screen)})
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > 500
    html = again.get_data(as_text=True)
    assert "You have had your portion" in html and "Your next portion: from" in html


def test_a_qr_redemption_reported_by_the_device_is_seen_in_chinese(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=540, timezone=midday_timezone()))
    device = enroll(client, dispenser)
    _get_code(client, dispenser)
    ref = _held_ref(app, client, dispenser)
    event = {
        "event_id": uuid.uuid4().hex,
        "kind": "dispense",
        "method": "qr",
        "occurred_at": now().isoformat(),
        "token_ref": ref,
    }
    sent = client.post(
        "/api/v1/device/events", json={"events": [event]}, headers=auth(device["device_key"])
    )
    assert sent.status_code == 200
    body = _status(client, dispenser, **{"Accept-Language": "zh-CN"})
    assert body["state"] == "given"
    assert "下一份" in str(body["next_text"]), body
    html = client.get(f"/d/{dispenser.public_id}/token?lang=zh").get_data(as_text=True)
    assert "已出纸" in html


def test_an_expired_unused_code_is_expired_and_polled_until_no_longer_accepted(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    _get_code(client, dispenser)
    ref = _held_ref(app, client, dispenser)
    _shift_expiry(ref, -5)
    body = _status(client, dispenser)
    assert body["state"] == "expired" and body["poll"] == 5
    _shift_expiry(ref, -60)
    assert _status(client, dispenser)["poll"] == 0
    html = token_page(client, dispenser).get_data(as_text=True)
    assert "This code has expired" in html and "Get a new code" in html


def test_at_an_offline_dispenser_an_expired_code_may_have_been_used(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=540, timezone=midday_timezone()))
    _get_code(client, dispenser)
    ref = _held_ref(app, client, dispenser)
    dispenser.last_heartbeat_at = now() - timedelta(hours=1)
    db.session.commit()
    _shift_expiry(ref, -5)
    body = _status(client, dispenser)
    assert body["state"] == "maybe_used"
    assert "Your next portion: from" in str(body["next_text"])
    html = token_page(client, dispenser).get_data(as_text=True)
    assert "It may have been used" in html and "Your next portion: from" in html


def test_the_poll_without_a_held_code_says_none(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    landing(client, dispenser)
    assert _status(client, dispenser)["state"] == "none"


def test_a_refusal_reported_by_another_dispenser_is_shown_on_the_live_code(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site()
    mine = make_dispenser(site, label="Gate 2")
    other = make_dispenser(site, label="Gate 5")
    key = enroll(client, other)["device_key"]
    _get_code(client, mine)
    ref = _held_ref(app, client, mine)
    event = {
        "event_id": uuid.uuid4().hex,
        "kind": "refuse",
        "method": "qr",
        "reason": "wrong_dispenser",
        "occurred_at": now().isoformat(),
        "token_ref": ref,
    }
    sent = client.post("/api/v1/device/events", json={"events": [event]}, headers=auth(key))
    assert sent.status_code == 200
    body = _status(client, mine)
    assert body["state"] == "live"
    assert "Show it to Gate 2" in str(body["refusal_text"])
    html = token_page(client, mine).get_data(as_text=True)
    assert "Show it to Gate 2" in html and 'class="qr"' in html  # still usable at Gate 2


def test_a_refusal_of_a_spent_code_changes_nothing(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    _type_code(client, key, _get_code(client, dispenser))
    ref = _held_ref(app, client, dispenser)
    event = {
        "event_id": uuid.uuid4().hex,
        "kind": "refuse",
        "method": "qr",
        "reason": "already_used",
        "occurred_at": now().isoformat(),
        "token_ref": ref,
    }
    client.post("/api/v1/device/events", json={"events": [event]}, headers=auth(key))
    assert _status(client, dispenser)["state"] == "given"
    assert (
        db.session.scalar(select(AccessToken.refusal).where(AccessToken.token_ref == ref)) is None
    )
