"""End to end in headless Chromium as a phone: scan, get a code, show it, in both languages.

Every state is screenshotted at 390x844 into test-artifacts/screenshots/visitor/, every
page is checked with axe-core, and no request may leave the app's origin.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The device extra, which `make test` installs: a missing one is an error, never a skip.
import cv2
import numpy as np
import pytest
import zxingcpp
from flask import Flask

from backend.signing import key_ring
from backend.visitor.token_cookie import COOKIE_NAME, HeldToken, save_token
from protocol.ids import dispenser_id_to_bytes
from protocol.token import decode_public_keys, verify_token
from tests.visitor.phone import (
    Phone,
    add_dispenses,
    axe_violations,
    make_place,
    phone,
    update_dispenser,
)

LANGS = ["en", "zh"]
GET_PAPER = {"en": "Get paper", "zh": "取纸"}


def _qr_texts(png: bytes) -> list[str]:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


def _check_page(tab: Phone, axe_source: str, shots: Path, name: str) -> bytes:
    """Screenshot the state, and fail on accessibility violations or foreign requests."""
    png: bytes = tab.page.screenshot(path=str(shots / f"{name}.png"))
    violations = axe_violations(tab.page, axe_source)
    assert violations == [], f"{name}: axe-core found {violations}"
    assert tab.foreign_requests() == [], f"{name}: requests left the origin"
    assert tab.errors == [], f"{name}: console errors {tab.errors}"
    return png


def _get_paper(tab: Phone, lang: str) -> None:
    tab.page.get_by_role("button", name=GET_PAPER[lang]).click()
    tab.page.wait_for_url(re.compile(r"/token$"))


@pytest.mark.parametrize("lang", LANGS)
def test_scan_get_code_and_the_qr_decodes_to_an_accepted_token(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    public_id = make_place(live_app, f"Flow Park {lang}").dispensers[0]
    with phone(browser, live_url, lang) as tab:
        tab.goto(f"/d/{public_id}")
        assert tab.page.locator("html").get_attribute("lang") == {"en": "en", "zh": "zh-CN"}[lang]
        _check_page(tab, axe_source, screenshots, f"landing-{lang}")
        _get_paper(tab, lang)
        tab.page.locator("svg.qr").wait_for()
        png = _check_page(tab, axe_source, screenshots, f"token-{lang}")
        texts = _qr_texts(png)
        assert len(texts) == 1, "the QR on the screen did not decode"
        raw_id = dispenser_id_to_bytes(public_id)
        keys = decode_public_keys(key_ring(live_app).token_key_documents(raw_id))
        claims = verify_token(
            texts[0], keys, dispenser_id=dispenser_id_to_bytes(public_id), now=datetime.now(UTC)
        )
        assert (
            timedelta(seconds=100) < claims.expires_at - datetime.now(UTC) <= timedelta(seconds=120)
        )
        code = tab.page.locator(".code .sr").inner_text().replace(" ", "")
        assert re.fullmatch(r"[0-9]{6}", code)
        assert code in (tab.page.locator("svg.qr").get_attribute("aria-label") or "").replace(
            " ", ""
        )
        # The countdown runs (JavaScript on).
        assert re.search(r"[0-9]:[0-5][0-9]", tab.page.locator("#remaining").inner_text())


@pytest.mark.parametrize("lang", LANGS)
def test_quota_reached_at_another_dispenser_of_the_site(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    first, second = make_place(live_app, f"Quota Park {lang}", dispensers=2).dispensers
    with phone(browser, live_url, lang) as tab:
        tab.goto(f"/d/{first}")
        _get_paper(tab, lang)
        tab.goto(f"/d/{second}")
        tab.page.get_by_role("button", name=GET_PAPER[lang]).click()
        tab.page.wait_for_load_state()
        heading = tab.page.locator("h1").inner_text()
        assert heading == {"en": "You have had your portion", "zh": "您已领取过本次的份额"}[lang]
        _check_page(tab, axe_source, screenshots, f"quota-{lang}")


def _held_cookie(live_app: Flask, public_id: str, expires_at: datetime) -> str:
    with live_app.test_request_context():
        response = live_app.response_class()
        held = HeldToken(public_id, "A" * 152, "123456", expires_at)
        save_token(response, held, now=datetime.now(UTC))
        return response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]


@pytest.mark.parametrize("lang", LANGS)
def test_expired_code_offers_a_new_one(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    public_id = make_place(live_app, f"Expiry Park {lang}").dispensers[0]
    with phone(browser, live_url, lang) as tab:
        expired = datetime.now(UTC) - timedelta(minutes=3)
        tab.page.context.add_cookies(
            [
                {
                    "name": COOKIE_NAME,
                    "value": _held_cookie(live_app, public_id, expired),
                    "domain": "127.0.0.1",
                    "path": f"/d/{public_id}",
                }
            ]
        )
        tab.goto(f"/d/{public_id}/token")
        assert tab.page.locator("svg.qr").count() == 0
        _check_page(tab, axe_source, screenshots, f"expired-{lang}")
        new_code = {"en": "Get a new code", "zh": "获取新的取纸码"}[lang]
        tab.page.get_by_role("button", name=new_code).click()
        tab.page.locator("svg.qr").wait_for()
        assert _qr_texts(tab.page.screenshot()), "the renewed code's QR did not decode"


def test_countdown_turns_into_expired_and_waits_to_renew(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path
) -> None:
    public_id = make_place(live_app, "Countdown Park").dispensers[0]
    with phone(browser, live_url, "en") as tab:
        tab.page.clock.install()
        tab.goto(f"/d/{public_id}")
        _get_paper(tab, "en")
        tab.page.clock.fast_forward("02:01")
        expired_box = tab.page.locator("#expired")
        expired_box.wait_for(state="visible")
        assert tab.page.locator("#live-token").is_hidden()
        assert "A new code in" in tab.page.locator("#renew-wait").inner_text()
        assert tab.page.locator("#announce").inner_text().startswith("This code has expired")
        _check_page(tab, axe_source, screenshots, "expired-countdown-en")


def test_an_unused_code_is_renewed_by_itself_once_the_dispenser_stops_accepting_it(
    browser: Any, live_url: str, live_app: Flask, screenshots: Path
) -> None:
    # Short lives so the real renewal path runs in seconds: issue, expire, wait out the
    # device's clock tolerance, renew (the quota moves the unused portion to the new code).
    live_app.config.update(FAIRROLL_TOKEN_TTL_SECONDS=4, FAIRROLL_CLOCK_SKEW_SECONDS=2)
    try:
        # The renewal comes seconds later at the same dispenser: no minimum interval here.
        public_id = make_place(live_app, "Renewal Park", min_interval_seconds=0).dispensers[0]
        with phone(browser, live_url, "en") as tab:
            tab.goto(f"/d/{public_id}")
            _get_paper(tab, "en")
            first = _qr_texts(tab.page.screenshot())
            tab.page.locator("#expired").wait_for(state="visible", timeout=10_000)
            tab.page.locator("#live-token").wait_for(state="visible", timeout=15_000)
            second = _qr_texts(tab.page.screenshot(path=str(screenshots / "renewed-en.png")))
            assert len(first) == 1 and len(second) == 1 and first != second
            assert tab.foreign_requests() == [] and tab.errors == []
    finally:
        live_app.config.update(FAIRROLL_TOKEN_TTL_SECONDS=120, FAIRROLL_CLOCK_SKEW_SECONDS=30)


@pytest.mark.parametrize("lang", LANGS)
def test_without_javascript_the_flow_still_works(
    browser: Any, live_url: str, live_app: Flask, screenshots: Path, lang: str
) -> None:
    public_id = make_place(live_app, f"No Script Park {lang}").dispensers[0]
    with phone(browser, live_url, lang, javascript=False) as tab:
        tab.goto(f"/d/{public_id}")
        _get_paper(tab, lang)
        png = tab.page.screenshot(path=str(screenshots / f"token-nojs-{lang}.png"))
        assert len(_qr_texts(png)) == 1
        assert tab.foreign_requests() == []


def test_language_switch_is_visible_and_remembered(
    browser: Any, live_url: str, live_app: Flask, screenshots: Path
) -> None:
    public_id = make_place(live_app, "Switch Park").dispensers[0]
    with phone(browser, live_url, "zh") as tab:
        tab.goto(f"/d/{public_id}")
        assert tab.page.get_by_role("button", name="取纸").is_visible()
        switch = tab.page.get_by_role("link", name="English")
        assert switch.is_visible()
        switch.click()
        tab.page.wait_for_load_state()
        assert tab.page.locator("html").get_attribute("lang") == "en"
        tab.goto(f"/d/{public_id}")
        assert tab.page.get_by_role("button", name="Get paper").is_visible()
        tab.page.screenshot(path=str(screenshots / "switched-to-en.png"))
        tab.page.get_by_role("link", name="简体中文").click()
        tab.page.wait_for_load_state()
        assert tab.page.locator("html").get_attribute("lang") == "zh-CN"


@pytest.mark.parametrize("lang", LANGS)
def test_empty_offline_and_presence_states(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    place = make_place(live_app, f"States Park {lang}", dispensers=3)
    empty, silent, working = place.dispensers
    update_dispenser(live_app, empty, status="empty")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    update_dispenser(live_app, silent, status="ok", last_heartbeat_at=an_hour_ago)
    screen = make_place(live_app, f"Screen Park {lang}", presence_required=True).dispensers[0]
    with phone(browser, live_url, lang) as tab:
        tab.goto(f"/d/{empty}")
        assert tab.page.locator(".alternatives li").count() == 1  # the working one only
        _check_page(tab, axe_source, screenshots, f"empty-{lang}")
        tab.goto(f"/d/{silent}")
        _check_page(tab, axe_source, screenshots, f"offline-{lang}")
        tab.goto(f"/d/{screen}")
        assert tab.page.get_by_role("button").count() == 0
        _check_page(tab, axe_source, screenshots, f"presence-{lang}")
    assert working


@pytest.mark.parametrize("lang", LANGS)
def test_transparency_and_privacy_pages(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    place = make_place(live_app, f"Open Park {lang}", face_mode_allowed=True)
    counts = {"qr": 412, "code": 37, "face": 58, "voucher": 9, "unrestricted": 21}
    add_dispenses(live_app, place.dispensers[0], counts)
    with phone(browser, live_url, lang) as tab:
        tab.goto(f"/sites/{place.site_id}")
        assert tab.page.locator("table.figures tbody tr").count() == 5
        assert tab.page.locator("table.figures tfoot td").inner_text() == "537"
        _check_page(tab, axe_source, screenshots, f"transparency-{lang}")
        tab.page.screenshot(path=str(screenshots / f"transparency-full-{lang}.png"), full_page=True)
        tab.goto(f"/sites/{place.site_id}/privacy")
        _check_page(tab, axe_source, screenshots, f"privacy-{lang}")
        tab.page.screenshot(path=str(screenshots / f"privacy-full-{lang}.png"), full_page=True)


def _overflows(tab: Phone) -> bool:
    return bool(
        tab.page.evaluate(
            "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
    )


@pytest.mark.parametrize("lang", LANGS)
def test_fits_a_320px_screen_and_200_percent_zoom(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    public_id = make_place(live_app, f"Small Screen Park {lang}").dispensers[0]
    small = {"width": 320, "height": 640}
    with phone(browser, live_url, lang, viewport=small) as tab:
        tab.goto(f"/d/{public_id}")
        assert not _overflows(tab)
        button = tab.page.get_by_role("button", name=GET_PAPER[lang])
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44
        _get_paper(tab, lang)
        assert not _overflows(tab)
        _check_page(tab, axe_source, screenshots, f"token-320px-{lang}")
        # 200 % zoom: the same page at half the CSS width, as a browser zoom gives it.
        tab.page.set_viewport_size({"width": 195, "height": 422})
        tab.page.reload()
        assert not _overflows(tab)
        assert _qr_texts(tab.page.screenshot(full_page=True))
        tab.page.screenshot(path=str(screenshots / f"token-zoom200-{lang}.png"), full_page=True)
        place = make_place(live_app, f"Small Report Park {lang}")
        for path in (f"/sites/{place.site_id}", f"/sites/{place.site_id}/privacy"):
            tab.goto(path)
            assert not _overflows(tab), path
