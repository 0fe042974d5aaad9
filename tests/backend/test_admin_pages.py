"""The admin pages: fleet view, policy changes, dispensers, labels, audit log."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import AuditEntry, DeviceCredential, Dispenser, Site
from tests.backend.fleet_helpers import make_operator, post_form, sign_in
from tests.factories import enroll, make_dispenser, make_site, now


def _policy(site: Site, **changes: str) -> dict[str, str]:
    form = {
        "name": site.name,
        "timezone": site.timezone,
        "portion_cm": str(site.portion_cm),
        "window_minutes": str(site.window_seconds // 60),
        "daily_cap": str(site.daily_cap),
        "min_interval_seconds": str(site.min_interval_seconds),
        "contact": site.contact,
    }
    form.update(changes)
    return form


def test_fleet_view_shows_state_level_alerts_and_charts(app: Flask, client: FlaskClient) -> None:
    site = make_site("View Park")
    make_dispenser(site, label="Lobby", paper_level=12, status="low", last_heartbeat_at=now())
    make_dispenser(site, label="Never seen")
    sign_in(client, make_operator())
    html = client.get("/admin/").get_data(as_text=True)
    assert "Lobby" in html and "12 %" in html and "state-low" in html
    assert "state-new" in html
    assert html.count("<svg") >= 3 and "Dispenses per hour by method" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing third-party


def test_policy_change_is_validated_and_audited(app: Flask, client: FlaskClient) -> None:
    site = make_site("Policy Park")
    sign_in(client, make_operator())
    page = f"/admin/sites/{site.id}"
    refused = post_form(client, page, page, **_policy(site, face_mode_allowed="1"))
    assert refused.status_code == 400
    assert "outside the restroom" in refused.get_data(as_text=True)
    assert db.session.get(Site, site.id).face_mode_allowed is False  # type: ignore[union-attr]
    bad = post_form(client, page, page, **_policy(site, daily_cap="0"))
    assert bad.status_code == 400 and "daily_cap must be between" in bad.get_data(as_text=True)
    accepted = post_form(
        client,
        page,
        page,
        **_policy(site, face_mode_allowed="1", face_outside_confirmed="1", window_minutes="7"),
    )
    assert accepted.status_code == 302
    stored = db.session.get(Site, site.id)
    assert stored is not None and stored.face_mode_allowed and stored.window_seconds == 420
    entry = db.session.query(AuditEntry).filter_by(action="site_policy_changed").one()
    assert entry.actor == "ops@city.example" and '"window_seconds": [540, 420]' in entry.detail


def test_admin_creates_a_dispenser_and_gets_its_code_and_label(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site("New Park")
    sign_in(client, make_operator())
    page = f"/admin/sites/{site.id}"
    response = post_form(client, f"{page}/dispensers", page, label="Gate 2")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    dispenser = db.session.query(Dispenser).filter_by(label="Gate 2").one()
    assert f"http://fairroll.test/d/{dispenser.public_id}" in html
    assert 'id="enrollment-code"' in html and "data:image/svg+xml" in html
    actions = {e.action for e in db.session.query(AuditEntry)}
    assert {"dispenser_created", "enrollment_code_issued"} <= actions


def test_disable_and_revoke_a_dispenser(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site(), label="Old")
    enroll(client, dispenser)
    sign_in(client, make_operator())
    page = f"/admin/dispensers/{dispenser.public_id}"
    post_form(client, page, page, label="Old", unrestricted="")
    assert db.session.get(Dispenser, dispenser.id).enabled is False  # type: ignore[union-attr]
    post_form(client, f"{page}/revoke", page)
    live = db.session.query(DeviceCredential).filter_by(dispenser_id=dispenser.id, revoked_at=None)
    assert live.count() == 0
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "device_key_revoked" in log and "dispenser_changed" in log


def test_unknown_dispenser_and_site_are_404(app: Flask, client: FlaskClient) -> None:
    sign_in(client, make_operator())
    assert client.get("/admin/dispensers/nosuchthing").status_code == 404
    assert client.get("/admin/sites/99999").status_code == 404
    assert client.get("/admin/?site=99999").status_code == 404


def test_refill_list_and_alerts_pages_render(app: Flask, client: FlaskClient) -> None:
    make_dispenser(make_site(), label="Dry", paper_level=0, status="empty", last_heartbeat_at=now())
    sign_in(client, make_operator("m@city.example", role="maintainer"))
    assert "Dry" in client.get("/admin/refills").get_data(as_text=True)
    assert client.get("/admin/alerts").status_code == 200


def test_fleet_view_and_refill_list_are_paginated(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backend.admin.views_fleet as views

    monkeypatch.setattr(views, "PER_PAGE", 2)
    site = make_site("Paged Park")
    for index in range(5):
        make_dispenser(site, label=f"Unit {index}", paper_level=5, status="ok")
    sign_in(client, make_operator())
    first = client.get("/admin/").get_data(as_text=True)
    assert 'id="count-dispensers">5<' in first and "Page 1 of 3" in first
    assert "Unit 0" in first and "Unit 1" in first and "Unit 2" not in first
    last = client.get(f"/admin/?page=3&site={site.id}").get_data(as_text=True)
    assert "Unit 4" in last and "Unit 3" not in last and "Page 3 of 3" in last
    refills = client.get("/admin/refills?page=2").get_data(as_text=True)
    assert "Unit 2" in refills and "Unit 0" not in refills and "5 in all" in refills
