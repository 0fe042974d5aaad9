"""The admin UI in headless Chromium: two-factor login, fleet view, policy, vouchers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from flask import Flask

from backend.extensions import db
from backend.models import DeviceEvent
from backend.services.alerts import AlertSettings, evaluate_dispenser
from backend.services.operators import create_operator
from backend.services.sites import SitePolicy, create_dispenser, create_site
from tests.admin.conftest import screenshot

PASSWORD = "browser test password"


@dataclass(frozen=True)
class Login:
    """What a person signing in knows: e-mail, password, the authenticator's secret."""

    email: str
    totp_secret: str


def _operator(app: Flask, email: str, role: str = "admin") -> Login:
    with app.app_context():
        created = create_operator(
            db.session, email, PASSWORD, role=role, now=datetime.now(UTC), totp_enrolled=True
        )
        login = Login(created.operator.email, created.operator.totp_secret)
        db.session.commit()
        return login


def _fleet(app: Flask, name: str) -> int:
    """A site with a low dispenser, a healthy one, and a day of dispenses."""
    now = datetime.now(UTC)
    with app.app_context():
        site = create_site(db.session, name, now=now, policy=SitePolicy())
        low = create_dispenser(db.session, site, now=now, label=f"{name} lobby")
        low.status, low.paper_level, low.last_heartbeat_at = "low", 12, now
        fine = create_dispenser(db.session, site, now=now, label=f"{name} gate")
        fine.status, fine.paper_level, fine.last_heartbeat_at = "ok", 85, now
        for hour in range(20):
            for method in ("qr", "qr", "code", "voucher"):
                db.session.add(
                    DeviceEvent(
                        dispenser_id=low.id,
                        event_id=uuid.uuid4().hex,
                        kind="dispense",
                        method=method,
                        occurred_at=now - timedelta(hours=hour),
                        received_at=now,
                    )
                )
        evaluate_dispenser(db.session, low, AlertSettings(), now=now)  # as a heartbeat would
        site_id = site.id
        db.session.commit()
        return site_id


def _sign_in(page: Any, base_url: str, operator: Login) -> None:
    page.goto(f"{base_url}/admin/")
    page.fill("#email", operator.email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Continue')")
    page.wait_for_selector("#code")
    page.fill("#code", pyotp.TOTP(operator.totp_secret).now())
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#fleet")


def test_login_with_two_factor(live_app: Flask, base_url: str, page: Any) -> None:
    operator = _operator(live_app, "login@city.example")
    page.goto(f"{base_url}/admin/")
    assert page.url.endswith("/admin/login")
    screenshot(page, "01-login")
    page.fill("#email", operator.email)
    page.fill("#password", "not the password")
    page.click("button:has-text('Continue')")
    assert "wrong e-mail, password or code" in page.inner_text(".error")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Continue')")
    page.wait_for_selector("#code")
    page.fill("#code", "000000")
    page.click("button:has-text('Sign in')")
    assert "wrong e-mail, password or code" in page.inner_text(".error")
    page.fill("#code", pyotp.TOTP(operator.totp_secret).now())
    screenshot(page, "02-two-factor")
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#fleet")
    assert "Fleet" in page.inner_text("h1")


def test_fleet_view_shows_dispensers_alert_state_and_charts(
    live_app: Flask, base_url: str, page: Any
) -> None:
    site_id = _fleet(live_app, "Browser Park")
    _sign_in(page, base_url, _operator(live_app, "fleet@city.example", role="maintainer"))
    page.select_option("#site", str(site_id))
    with page.expect_navigation():  # the count below does not wait, so the new page must be in
        page.click("button:has-text('Show')")
    rows = page.locator("#fleet tbody tr")
    assert rows.count() == 2
    low_row = page.locator("tr", has_text="Browser Park lobby")
    assert "low" in low_row.locator(".state").inner_text()
    assert "12 %" in low_row.inner_text()
    assert low_row.locator(".alert-badge").inner_text() == "low paper"
    assert page.locator("svg.chart").count() == 3
    assert page.locator("svg.chart rect[fill='#0072B2']").count() > 0
    screenshot(page, "03-fleet-view")
    page.click("a:has-text('Refill list')")
    assert "Browser Park lobby" in page.inner_text("#refills")
    screenshot(page, "04-refill-list")


def test_policy_change_needs_the_restroom_confirmation(
    live_app: Flask, base_url: str, page: Any
) -> None:
    site_id = _fleet(live_app, "Policy Browser Park")
    _sign_in(page, base_url, _operator(live_app, "policy@city.example"))
    page.goto(f"{base_url}/admin/sites/{site_id}")
    page.fill("#window_minutes", "12")
    page.check("#face_mode_allowed")
    page.click("button:has-text('Save policy')")
    assert "outside the restroom" in page.inner_text(".error")
    screenshot(page, "05-policy-refused")
    assert page.input_value("#window_minutes") == "12"  # what was typed is kept
    assert page.is_checked("#face_mode_allowed")
    page.check("#face_outside_confirmed")
    page.click("button:has-text('Save policy')")
    assert "Policy saved" in page.inner_text(".flash")
    assert page.input_value("#window_minutes") == "12"
    assert page.is_checked("#face_mode_allowed")
    screenshot(page, "06-policy-saved")
    page.click("a:has-text('Audit log')")
    assert "site_policy_changed" in page.inner_text("#audit")


def test_printing_a_voucher_sheet(live_app: Flask, base_url: str, page: Any) -> None:
    site_id = _fleet(live_app, "Voucher Browser Park")
    _sign_in(page, base_url, _operator(live_app, "vouchers@city.example", role="maintainer"))
    page.click("a:has-text('Vouchers')")
    page.select_option("#site", str(site_id))
    page.fill("#count", "12")
    page.fill("#note", "front desk")
    with page.expect_navigation():  # all_inner_texts does not wait for the sheet
        page.click("button:has-text('Make and print sheet')")
    codes = page.locator(".voucher .code").all_inner_texts()
    assert len(codes) == 12
    assert all(len(code.replace(" ", "")) == 10 for code in codes)
    screenshot(page, "07-voucher-sheet")
    page.emulate_media(media="print")
    assert not page.locator("header").is_visible()  # menus stay off the paper
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")


def test_bulk_enrollment_sheet_prints_stickers_and_codes(
    live_app: Flask, base_url: str, page: Any, tmp_path: Any
) -> None:
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_text(
        "site,label,unrestricted\nSheet Park,Gate A,\nSheet Park,Gate B,\nSheet Lake,Stall 1,yes\n",
        encoding="utf-8",
    )
    _sign_in(page, base_url, _operator(live_app, "sheet@city.example"))
    page.click("a:has-text('Sites')")
    page.set_input_files("#csv", str(csv_file))
    page.click("button:has-text('Create dispensers and show the sheet')")
    page.wait_for_selector("#sheet")
    cards = page.locator(".enroll-card")
    assert cards.count() == 3
    assert len({c.strip() for c in page.locator(".enroll-card .code").all_inner_texts()}) == 3
    assert page.locator(".enroll-card img").count() == 3
    assert "accessible stall" in cards.nth(2).inner_text()
    overflowing = page.evaluate(
        "[...document.querySelectorAll('.sticker')].filter(e => e.scrollWidth > e.clientWidth)"
        ".length"
    )
    assert overflowing == 0  # the URL and texts stay inside the sticker
    screenshot(page, "08-enrollment-sheet")
    page.emulate_media(media="print")
    assert not page.locator(".no-print").first.is_visible()
    assert page.pdf(format="A4").startswith(b"%PDF")  # what the technicians get on paper


def test_maintenance_window_from_the_admin_ui(live_app: Flask, base_url: str, page: Any) -> None:
    _fleet(live_app, "Window Park")
    _sign_in(page, base_url, _operator(live_app, "window@city.example", role="maintainer"))
    page.click("a:has-text('Maintenance')")
    page.select_option("#site", label="Window Park")
    page.fill("#minutes", "45")
    page.fill("#reason", "refit of the east block")
    page.click("button:has-text('Start window')")
    assert "silenced until" in page.inner_text(".flash")
    assert "refit of the east block" in page.inner_text("#windows")
    screenshot(page, "09-maintenance")
    page.click("#windows button:has-text('End now')")
    assert "No running or upcoming window" in page.inner_text("#windows")


def test_long_values_wrap_in_the_audit_table(live_app: Flask, base_url: str, page: Any) -> None:
    operator = _operator(live_app, "audit@city.example")
    # A failed login is audited with the e-mail only when it names an operator: one with a
    # very long address, which must wrap in the table, not stretch it.
    typed = "s" * 60 + "@" + "very-long-domain." * 9 + "example"
    _operator(live_app, typed)
    page.goto(f"{base_url}/admin/")
    page.fill("#email", typed)
    page.fill("#password", "wrong password")
    page.click("button:has-text('Continue')")
    page.wait_for_selector(".error")  # the refusal (and its audit row) is in
    _sign_in(page, base_url, operator)
    page.click("a:has-text('Audit log')")
    assert typed[:40] in page.inner_text("#audit")
    width = page.evaluate("document.getElementById('audit').getBoundingClientRect().width")
    assert width <= 1280
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "09-audit-long-values")
