"""In Chromium: the token screen follows its token without a reload (given, maybe used).

Screens are saved in test-artifacts/screenshots/visitor/ and checked with axe-core.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from backend.extensions import db
from backend.models import Dispenser
from backend.services.tokens import mark_redeemed_by_qr, note_refusal
from protocol.token import parse_token, token_ref
from tests.factories import midday_timezone
from tests.visitor.phone import Phone, axe_violations, make_place, phone, update_dispenser

cv2 = pytest.importorskip("cv2", reason="OpenCV comes with the device extra")
np = pytest.importorskip("numpy", reason="numpy comes with the device extra")
zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp comes with the device extra")

LANGS = ["en", "zh"]
GET_PAPER = {"en": "Get paper", "zh": "取纸"}
GIVEN = {"en": "Paper given", "zh": "已出纸"}


def _qr_text(tab: Phone) -> str:
    png = tab.page.screenshot()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    texts = [r.text for r in zxingcpp.read_barcodes(image)]
    assert len(texts) == 1, "the QR on the screen did not decode"
    return str(texts[0])


def _check(tab: Phone, axe_source: str, shots: Path, name: str) -> None:
    tab.page.screenshot(path=str(shots / f"{name}.png"))
    violations = axe_violations(tab.page, axe_source)
    assert violations == [], f"{name}: axe-core found {violations}"
    assert tab.foreign_requests() == [], f"{name}: requests left the origin"
    assert tab.errors == [], f"{name}: console errors {tab.errors}"


def _get_paper(tab: Phone, lang: str) -> None:
    tab.page.get_by_role("button", name=GET_PAPER[lang]).click()
    tab.page.wait_for_url(re.compile(r"/token$"))
    tab.page.locator("svg.qr").wait_for()


def _redeem_as_the_device_reports_it(app: Flask, public_id: str, token_text: str) -> None:
    claims, _, _ = parse_token(token_text)
    with app.app_context():
        dispenser = db.session.scalar(select(Dispenser).where(Dispenser.public_id == public_id))
        assert dispenser is not None
        marked = mark_redeemed_by_qr(
            db.session, dispenser, token_ref(claims.token_id), redeemed_at=datetime.now(UTC)
        )
        db.session.commit()
        db.session.remove()
    assert marked


@pytest.mark.parametrize("lang", LANGS)
def test_the_phone_shows_paper_given_and_the_next_time_without_a_reload(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    first, second = make_place(
        live_app, f"Follow Park {lang}", dispensers=2, window_seconds=540
    ).dispensers
    with phone(browser, live_url, lang) as tab:
        tab.goto(f"/d/{first}")
        _get_paper(tab, lang)
        url = tab.page.url
        _redeem_as_the_device_reports_it(live_app, first, _qr_text(tab))
        tab.page.locator("#given").wait_for(state="visible", timeout=10_000)
        assert tab.page.url == url  # no reload, no navigation
        assert tab.page.locator("#live-token").is_hidden()
        assert tab.page.locator("svg.qr").is_hidden()
        next_text = tab.page.locator("#next-text").inner_text()
        assert re.search(r"[0-9]{1,2}:[0-9]{2}", next_text), next_text
        countdown = tab.page.locator("#next-countdown").inner_text()
        assert re.search(r"[0-9]:[0-5][0-9]", countdown), countdown
        assert GIVEN[lang] in tab.page.locator("#announce").inner_text()
        _check(tab, axe_source, screenshots, f"given-{lang}")
        # A reload shows the same (the no-JavaScript path).
        tab.page.reload()
        assert tab.page.locator("#given").is_visible()
        # Asking again, at another dispenser of the site: the refusal with the time, at once.
        tab.goto(f"/d/{second}")
        tab.page.get_by_role("button", name=GET_PAPER[lang]).click()
        tab.page.wait_for_load_state()
        assert tab.page.locator(".fact").first.inner_text() == next_text
        _check(tab, axe_source, screenshots, f"given-then-ask-again-{lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_at_an_offline_dispenser_the_expired_code_may_have_been_used(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    live_app.config.update(FAIRROLL_TOKEN_TTL_SECONDS=4, FAIRROLL_CLOCK_SKEW_SECONDS=2)
    try:
        public_id = make_place(live_app, f"Offline Park {lang}", window_seconds=540).dispensers[0]
        update_dispenser(
            live_app, public_id, last_heartbeat_at=datetime.now(UTC) - timedelta(hours=1)
        )
        with phone(browser, live_url, lang) as tab:
            tab.goto(f"/d/{public_id}")
            _get_paper(tab, lang)
            tab.page.locator("#maybe-used").wait_for(state="visible", timeout=10_000)
            tab.page.locator("#next-text").wait_for(state="visible", timeout=10_000)
            assert tab.page.locator("#live-token").is_hidden()
            assert tab.page.locator("#given").is_hidden()
            # No automatic renewal at an offline dispenser: a new code only on request.
            tab.page.wait_for_timeout(3_000)
            assert tab.page.locator("#maybe-used").is_visible()
            _check(tab, axe_source, screenshots, f"expired-maybe-used-{lang}")
    finally:
        live_app.config.update(FAIRROLL_TOKEN_TTL_SECONDS=120, FAIRROLL_CLOCK_SKEW_SECONDS=30)


@pytest.mark.parametrize("lang", LANGS)
def test_not_found_and_wrong_method_pages_in_the_phones_language(
    browser: Any, live_url: str, axe_source: str, screenshots: Path, lang: str
) -> None:
    titles = {
        404: {"en": "There is no page here", "zh": "这里没有页面"},
        405: {"en": "This page cannot be used that way", "zh": "此页面不能这样使用"},
    }
    with phone(browser, live_url, lang) as tab:
        answer = tab.goto("/nonexistent")
        assert answer.status == 404
        assert tab.page.locator("h1").inner_text() == titles[404][lang]
        _check(tab, axe_source, screenshots, f"not-found-{lang}")
        # A form posted where only GET is served (an old bookmark of a form's target).
        with tab.page.expect_navigation():
            tab.page.evaluate(
                """() => { const f = document.createElement('form');
                   f.method = 'post'; f.action = '/sites/1/privacy';
                   document.body.appendChild(f); f.submit(); }"""
            )
        assert tab.page.locator("h1").inner_text() == titles[405][lang]
        _check(tab, axe_source, screenshots, f"method-not-allowed-{lang}")


def _lines(tab: Phone, selector: str) -> int:
    """How many line boxes the text of ``selector`` takes."""
    return int(
        tab.page.evaluate(
            """(sel) => { const r = document.createRange();
               r.selectNodeContents(document.querySelector(sel));
               const tops = new Set([...r.getClientRects()].map(b => Math.round(b.top)));
               return tops.size; }""",
            selector,
        )
    )


@pytest.mark.parametrize("width", [320, 360, 390])
@pytest.mark.parametrize("lang", LANGS)
def test_transparency_column_headers_keep_whole_words(
    browser: Any, live_url: str, live_app: Flask, screenshots: Path, lang: str, width: int
) -> None:
    place = make_place(live_app, f"Narrow Park {lang} {width}", dispensers=2)
    with phone(browser, live_url, lang, viewport={"width": width, "height": 800}) as tab:
        tab.goto(f"/sites/{place.site_id}")
        assert _lines(tab, "table.figures thead th.num") == 1
        assert tab.page.evaluate("document.documentElement.scrollWidth") <= width
        tab.page.screenshot(path=str(screenshots / f"transparency-{width}-{lang}.png"))


@pytest.mark.parametrize("lang", LANGS)
def test_a_refusal_at_another_dispenser_is_explained_on_the_live_code(
    browser: Any, live_url: str, live_app: Flask, axe_source: str, screenshots: Path, lang: str
) -> None:
    public_id = make_place(live_app, f"Refusal Park {lang}", dispensers=2).dispensers[0]
    with phone(browser, live_url, lang) as tab:
        tab.goto(f"/d/{public_id}")
        _get_paper(tab, lang)
        claims, _, _ = parse_token(_qr_text(tab))
        with live_app.app_context():  # as the other dispenser's report does (record_events)
            assert note_refusal(db.session, token_ref(claims.token_id), "wrong_dispenser")
            db.session.commit()
            db.session.remove()
        notice = tab.page.locator("#refusal")
        notice.wait_for(state="visible", timeout=10_000)
        assert "Lobby, left of the sinks" in notice.inner_text()
        assert tab.page.locator("svg.qr").is_visible()  # still good at its own dispenser
        _check(tab, axe_source, screenshots, f"refused-elsewhere-{lang}")


def test_without_javascript_a_reload_shows_paper_given(
    browser: Any, live_url: str, live_app: Flask, screenshots: Path
) -> None:
    public_id = make_place(
        live_app, "No Script Follow Park", window_seconds=540, timezone=midday_timezone()
    ).dispensers[0]
    with phone(browser, live_url, "en", javascript=False) as tab:
        tab.goto(f"/d/{public_id}")
        tab.page.get_by_role("button", name="Get paper").click()
        tab.page.wait_for_url(re.compile(r"/token$"))
        _redeem_as_the_device_reports_it(live_app, public_id, _qr_text(tab))
        assert tab.page.locator("#given").is_hidden()  # nothing polls without JavaScript
        tab.page.reload()
        assert tab.page.locator("#given").is_visible()
        assert tab.page.locator("svg.qr").count() == 0
        assert "Your next portion: from" in tab.page.locator("#next-text").inner_text()
        tab.page.screenshot(path=str(screenshots / "given-nojs-en.png"))
