"""The transparency report, its counting service and the privacy notice."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import DeviceEvent, Dispenser
from backend.services.aggregates import roll_up_and_delete_events
from backend.services.stats import non_face_share
from backend.services.transparency import dispense_counts_by_method, offered_dispenses
from tests.factories import auth, enroll, make_dispenser, make_site, now
from tests.visitor.helpers import make_site_with_contact


def _event(
    dispenser: Dispenser,
    method: str,
    *,
    days_ago: float = 1,
    kind: str = "dispense",
    face_offered: bool = False,
) -> None:
    moment = now() - timedelta(days=days_ago)
    db.session.add(
        DeviceEvent(
            dispenser_id=dispenser.id,
            event_id=secrets.token_hex(16),
            kind=kind,
            method=method,
            occurred_at=moment,
            received_at=moment,
            face_offered=face_offered,
        )
    )


def test_counts_by_method_cover_the_site_window_and_dispenses_only(app: Flask) -> None:
    site, other = make_site("Counted"), make_site("Elsewhere")
    a, b, foreign = make_dispenser(site), make_dispenser(site), make_dispenser(other)
    for _ in range(3):
        _event(a, "qr")
    _event(b, "code")
    _event(b, "voucher")
    _event(a, "unrestricted")
    _event(a, "face", days_ago=0.5)
    _event(a, "qr", kind="refuse")  # refusals are not portions
    _event(a, "qr", days_ago=40)  # outside the window
    _event(foreign, "qr")  # another site
    db.session.commit()
    at = now()
    counts = dispense_counts_by_method(db.session, site, since=at - timedelta(days=30), now=at)
    assert counts == {"qr": 3, "code": 1, "face": 1, "voucher": 1, "unrestricted": 1}
    recent = dispense_counts_by_method(db.session, site, since=at - timedelta(hours=13), now=at)
    assert recent == {"qr": 0, "code": 0, "face": 1, "voucher": 0, "unrestricted": 0}


def test_transparency_page_shows_counts_retention_face_mode_and_contact(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site_with_contact("Open Park", "city-privacy@open.example", face_mode_allowed=True)
    dispenser = make_dispenser(site)
    for method in ("qr", "qr", "code", "face"):
        _event(dispenser, method, face_offered=True)
    db.session.commit()
    response = client.get(f"/sites/{site.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Open Park" in html and "city-privacy@open.example" in html
    assert '<td class="num">2</td>' in html and '<td class="num">4</td>' in html  # qr, total
    assert "deleted after 7 days" in html
    # The opt-out share, among portions where a face scan was offered.
    assert "Where a face scan was offered, 75% of portions were given without one." in html
    assert "only inside the dispenser" in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_transparency_page_says_when_face_mode_is_off(app: Flask, client: FlaskClient) -> None:
    site = make_site("Faceless Park")
    html = client.get(f"/sites/{site.id}").get_data(as_text=True)
    assert "Off at this site" in html
    assert "The operator has not published a contact yet." in html


def test_privacy_notice_has_the_consent_text_in_both_languages(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site_with_contact("Notice Park", "dpo@notice.example")
    english = client.get(f"/sites/{site.id}/privacy?lang=en").get_data(as_text=True)
    assert "Not for children under 14." in english
    assert "You never have to give your face" in english
    assert "dpo@notice.example" in english
    chinese = client.get(f"/sites/{site.id}/privacy?lang=zh").get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese
    assert "不适用于 14 岁以下儿童。" in chinese
    assert "人脸信息属于敏感个人信息" in chinese


def test_unknown_site_gets_an_html_not_found_page(app: Flask, client: FlaskClient) -> None:
    for path in ("/sites/999999", "/sites/999999/privacy"):
        response = client.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_rule_counts_dispensers_with_the_right_plural(app: Flask, client: FlaskClient) -> None:
    site = make_site("Plural Park")
    make_dispenser(site)
    one = client.get(f"/sites/{site.id}?lang=en").get_data(as_text=True)
    assert "at the 1 dispenser of this site" in one
    assert "1 dispensers" not in one
    make_dispenser(site)
    two = client.get(f"/sites/{site.id}?lang=en").get_data(as_text=True)
    assert "counted across all 2 dispensers of this site" in two
    assert "2 台" in client.get(f"/sites/{site.id}?lang=zh").get_data(as_text=True)


def test_retention_of_one_day_is_said_in_the_singular(app: Flask, client: FlaskClient) -> None:
    kept = app.config["FAIRROLL_RETENTION_DAYS"]
    app.config["FAIRROLL_RETENTION_DAYS"] = 1
    try:
        site = make_site("Short Memory Park")
        html = client.get(f"/sites/{site.id}?lang=en").get_data(as_text=True)
    finally:
        app.config["FAIRROLL_RETENTION_DAYS"] = kept
    assert "deleted after 1 day." in html and "after 1 days" not in html


def _upload(client: FlaskClient, key: str, methods: list[str], *, days_ago: float) -> None:
    at = (now() - timedelta(days=days_ago)).isoformat()
    events = [
        {"event_id": secrets.token_hex(16), "kind": "dispense", "method": m, "occurred_at": at}
        for m in methods
    ]
    answer = client.post("/api/v1/device/events", json={"events": events}, headers=auth(key))
    assert answer.status_code == 200, answer.get_json()


def test_the_non_face_share_keeps_what_was_recorded_when_each_portion_was_given(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site("Switching Park")
    dispenser = make_dispenser(site)
    key = enroll(client, dispenser)["device_key"]
    # Face mode off: four portions by phone; nobody had the choice.
    _upload(client, key, ["qr", "qr", "code", "voucher"], days_ago=3)
    assert "Where a face scan was offered" not in client.get(f"/sites/{site.id}").get_data(
        as_text=True
    )
    # The site turns face mode on: one by face, one by phone since then.
    site.face_mode_allowed = True
    db.session.commit()
    _upload(client, key, ["face", "qr"], days_ago=1)
    html = client.get(f"/sites/{site.id}").get_data(as_text=True)
    assert "Where a face scan was offered, 50% of portions were given without one." in html
    at = now()
    fleet = non_face_share(db.session, since=(at - timedelta(days=7)).date(), now=at)
    assert (fleet.non_face, fleet.total) == (1, 2)
    # The raw events are rolled into daily aggregates: the figure stays the same.
    roll_up_and_delete_events(db.session, before=at)
    db.session.commit()
    html = client.get(f"/sites/{site.id}").get_data(as_text=True)
    assert "Where a face scan was offered, 50% of portions were given without one." in html
    # Turning face mode off again does not rewrite the past either.
    site.face_mode_allowed = False
    db.session.commit()
    again = non_face_share(db.session, since=(at - timedelta(days=7)).date(), now=at)
    assert (again.non_face, again.total) == (1, 2)


def test_a_device_may_say_itself_whether_it_offered_a_face_scan(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site("Own Word Park", face_mode_allowed=True)
    dispenser = make_dispenser(site)
    key = enroll(client, dispenser)["device_key"]
    at = (now() - timedelta(hours=1)).isoformat()
    events = [
        {"event_id": secrets.token_hex(16), "kind": "dispense", "method": "qr",
         "occurred_at": at, "face_offered": False},
        {"event_id": secrets.token_hex(16), "kind": "dispense", "method": "qr",
         "occurred_at": at, "face_offered": True},
    ]  # fmt: skip
    sent = client.post("/api/v1/device/events", json={"events": events}, headers=auth(key))
    assert sent.status_code == 200
    bad = dict(events[0], event_id=secrets.token_hex(16), face_offered="yes")
    refused = client.post("/api/v1/device/events", json={"events": [bad]}, headers=auth(key))
    assert refused.status_code == 400
    assert "face_offered" in refused.get_json()["error"]["message"]
    stamp = now()
    counts = offered_dispenses(db.session, since=stamp - timedelta(days=1), now=stamp)
    assert counts["qr"] == 1
