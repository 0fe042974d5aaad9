"""The device API: enrollment, config with ETag, heartbeats, events, typed codes, bad input."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import AccessToken, DeviceEvent
from backend.services.codes import FREE_FAILURES
from tests.factories import auth, enroll, enrollment_code, make_dispenser, make_site, now


def _event(**fields: object) -> dict[str, object]:
    return {
        "event_id": uuid.uuid4().hex,
        "kind": "dispense",
        "method": "face",
        "occurred_at": now().isoformat(),
        **fields,
    }


def test_enrollment_returns_key_and_config_and_the_code_works_once(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    code = enrollment_code(dispenser)
    first = client.post(
        "/api/v1/device/enroll", json={"enrollment_code": code.lower().replace("-", " ")}
    )
    assert first.status_code == 201
    body = first.get_json()
    assert body["dispenser_id"] == dispenser.public_id
    assert body["config"]["visitor_url"] == f"http://fairroll.test/d/{dispenser.public_id}"
    assert body["config"]["token_keys"][0]["alg"] == "HMAC-SHA256-128"
    again = client.post("/api/v1/device/enroll", json={"enrollment_code": code})
    assert again.status_code == 404
    assert again.get_json()["error"]["code"] == "enrollment_code_invalid"


def test_enrolling_again_revokes_the_old_key(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    old = enroll(client, dispenser)["device_key"]
    new = enroll(client, dispenser)["device_key"]
    assert client.get("/api/v1/device/config", headers=auth(old)).status_code == 401
    assert client.get("/api/v1/device/config", headers=auth(new)).status_code == 200


def test_expired_enrollment_code_is_refused(app: Flask, client: FlaskClient) -> None:
    from backend.models import EnrollmentCode

    dispenser = make_dispenser(make_site())
    code = enrollment_code(dispenser)
    db.session.query(EnrollmentCode).update({"expires_at": now() - timedelta(seconds=1)})
    db.session.commit()
    response = client.post("/api/v1/device/enroll", json={"enrollment_code": code})
    assert response.status_code == 404


def test_config_etag_gives_304_until_the_policy_changes(app: Flask, client: FlaskClient) -> None:
    site = make_site()
    dispenser = make_dispenser(site)
    key = enroll(client, dispenser)["device_key"]
    first = client.get("/api/v1/device/config", headers=auth(key))
    etag = first.headers["ETag"]
    unchanged = client.get("/api/v1/device/config", headers={**auth(key), "If-None-Match": etag})
    assert unchanged.status_code == 304 and not unchanged.data
    site.presence_required = True
    db.session.commit()
    changed = client.get("/api/v1/device/config", headers={**auth(key), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["presence"]["secret"] == dispenser.presence_secret


def test_heartbeat_updates_the_dispenser(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    response = client.post(
        "/api/v1/device/heartbeat",
        headers=auth(key),
        json={"paper_level": 17, "status": "low", "software_version": "1.2"},
    )
    assert response.status_code == 200
    assert response.get_json()["config_etag"].startswith('"')
    db.session.refresh(dispenser)
    assert (dispenser.paper_level, dispenser.status, dispenser.software_version) == (
        17,
        "low",
        "1.2",
    )
    assert dispenser.last_heartbeat_at is not None


def test_events_are_idempotent_by_event_id(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    batch = {"events": [_event(), _event(kind="refuse", reason="window")]}
    first = client.post("/api/v1/device/events", headers=auth(key), json=batch)
    assert first.get_json() == {"accepted": 2, "duplicates": 0}
    retry = client.post("/api/v1/device/events", headers=auth(key), json=batch)
    assert retry.get_json() == {"accepted": 0, "duplicates": 2}
    assert db.session.query(DeviceEvent).count() == 2


def test_qr_dispense_event_marks_the_token_redeemed(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    issued = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()
    ref = db.session.query(AccessToken).one().token_ref
    client.post(
        "/api/v1/device/events",
        headers=auth(key),
        json={"events": [_event(method="qr", token_ref=ref)]},
    )
    token = db.session.query(AccessToken).one()
    db.session.refresh(token)
    assert token.redeemed_at is not None and token.method == "qr"
    # The typed code of the same token can no longer be redeemed.
    response = client.post(
        "/api/v1/device/codes/verify", headers=auth(key), json={"code": issued["code"]}
    )
    assert response.status_code == 422


def test_a_bad_event_refuses_the_whole_batch_naming_it(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    bad_events = [
        _event(event_id="short"),
        _event(kind="explode"),
        _event(method="retina"),
        _event(occurred_at="yesterday"),
        _event(occurred_at="2026-01-01T00:00:00"),
        _event(occurred_at=(now() + timedelta(days=1)).isoformat()),
        _event(method="face", token_ref="a" * 64),
        _event(method="qr", token_ref="XYZ"),
        _event(surprise=1),
        "not an object",
    ]
    for bad in bad_events:
        response = client.post(
            "/api/v1/device/events", headers=auth(key), json={"events": [_event(), bad]}
        )
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["index"] == 1
    assert db.session.query(DeviceEvent).count() == 0


def test_typed_code_redeems_once(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    issued = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()
    first = client.post(
        "/api/v1/device/codes/verify", headers=auth(key), json={"code": issued["code"]}
    )
    assert first.status_code == 200
    assert first.get_json()["kind"] == "token" and len(first.get_json()["token_ref"]) == 64
    second = client.post(
        "/api/v1/device/codes/verify", headers=auth(key), json={"code": issued["code"]}
    )
    assert second.status_code == 422 and second.get_json()["error"]["code"] == "code_invalid"


def test_typed_code_is_bound_to_its_dispenser(app: Flask, client: FlaskClient) -> None:
    site = make_site()
    mine, other = make_dispenser(site), make_dispenser(site)
    other_key = enroll(client, other)["device_key"]
    issued = client.post(f"/api/v1/dispensers/{mine.public_id}/tokens").get_json()
    response = client.post(
        "/api/v1/device/codes/verify", headers=auth(other_key), json={"code": issued["code"]}
    )
    assert response.status_code == 422


def test_expired_typed_code_is_refused(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    issued = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()
    db.session.query(AccessToken).update({"expires_at": now() - timedelta(seconds=1)})
    db.session.commit()
    response = client.post(
        "/api/v1/device/codes/verify", headers=auth(key), json={"code": issued["code"]}
    )
    assert response.status_code == 422


def test_wrong_codes_spend_the_dispensers_failure_budget(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    issued = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()
    wrong = "000000" if issued["code"] != "000000" else "111111"
    statuses = [
        client.post("/api/v1/device/codes/verify", headers=auth(key), json={"code": wrong})
        for _ in range(FREE_FAILURES + 2)
    ]
    assert [r.status_code for r in statuses[:FREE_FAILURES]] == [422] * FREE_FAILURES
    blocked = statuses[FREE_FAILURES]
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert statuses[FREE_FAILURES + 1].status_code == 429
    # While blocked, even the right code waits: guessing gets no faster.
    right = client.post(
        "/api/v1/device/codes/verify", headers=auth(key), json={"code": issued["code"]}
    )
    assert right.status_code == 429


def test_device_endpoints_need_a_valid_key(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    enroll(client, dispenser)
    for headers in [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer " + "x" * 5000},
    ]:
        response = client.get("/api/v1/device/config", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "device_key_invalid"


def test_malformed_bodies_get_4xx_json_never_500(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    key = enroll(client, dispenser)["device_key"]
    cases = [
        ("/api/v1/device/enroll", {"data": "{", "content_type": "application/json"}, {}),
        ("/api/v1/device/enroll", {"json": {"enrollment_code": 5}}, {}),
        ("/api/v1/device/enroll", {"json": {}}, {}),
        ("/api/v1/device/heartbeat", {"json": {"paper_level": "full", "status": "ok"}}, auth(key)),
        ("/api/v1/device/heartbeat", {"json": {"paper_level": 101, "status": "ok"}}, auth(key)),
        ("/api/v1/device/heartbeat", {"json": {"paper_level": 5, "status": "on fire"}}, auth(key)),
        ("/api/v1/device/heartbeat", {"json": {"paper_level": True, "status": "ok"}}, auth(key)),
        ("/api/v1/device/heartbeat", {"json": [1]}, auth(key)),
        ("/api/v1/device/events", {"json": {"events": "all"}}, auth(key)),
        ("/api/v1/device/events", {"json": {"events": [{}] * 501}}, auth(key)),
        ("/api/v1/device/codes/verify", {"json": {"code": 123456}}, auth(key)),
        ("/api/v1/device/codes/verify", {"json": {"code": "12ab56"}}, auth(key)),
        (
            "/api/v1/device/codes/verify",
            {"data": "code=1", "content_type": "text/plain"},
            auth(key),
        ),
        (
            "/api/v1/device/events",
            {"data": "x" * 300_000, "content_type": "application/json"},
            auth(key),
        ),
    ]
    for url, kwargs, headers in cases:
        response = client.post(url, headers=headers, **kwargs)
        assert 400 <= response.status_code < 500, (url, kwargs.keys(), response.status_code)
        assert response.get_json()["error"]["code"], (url, response.data[:200])


def test_unknown_routes_and_methods_answer_json(app: Flask, client: FlaskClient) -> None:
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"
    response = client.get("/api/v1/device/heartbeat")
    assert response.status_code == 405 and response.get_json()["error"]["code"]
