"""The kiosk page server (HTTP) and the page itself in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import pyotp
import pytest

from device import messages
from device.hardware.camera import SimulatedCamera
from device.hardware.inputs import InputEvent
from device.kiosk.server import KioskServer
from device.qr import decode_frame
from device.runtime import Dispenser, Mode
from tests.device.helpers import http, make_token, new_dispenser
from tests.device.test_runtime import NEW_FACE, FakeFaceChecker, make_dispenser


@dataclass
class Kiosk:
    dispenser: Dispenser
    server: KioskServer
    camera: SimulatedCamera

    def pump(self) -> None:
        """Run the loop's input handling and screen refresh once (as the real loop does)."""
        event = self.dispenser.hw.inputs.get(timeout=5)
        while event is not None:
            self.dispenser.handle_input(event)
            event = self.dispenser.hw.inputs.get()
        self.dispenser.refresh_screen()


@pytest.fixture
def kiosk(tmp_path, signing_key, dispenser_id, now, request) -> Iterator[Kiosk]:
    policy: dict[str, Any] = getattr(request, "param", {})
    face = FakeFaceChecker(NEW_FACE) if policy.get("face_mode_allowed") else None
    camera = SimulatedCamera(fps=0, seed=1)
    dispenser = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=face, camera=camera, **policy
    )
    dispenser.config = replace(dispenser.config, simulation=True)
    server = KioskServer(dispenser.hw.display, dispenser.hw.inputs, port=0, sim_camera=camera)  # type: ignore[arg-type]
    server.start()
    dispenser.refresh_screen()
    yield Kiosk(dispenser, server, camera)
    server.stop()


def post(
    url: str, body: bytes, content_type: str = "application/json", **headers: str
) -> tuple[int, Any]:
    status, raw = http(url, body, content_type, **headers)
    return status, json.loads(raw)


def test_state_endpoint_returns_the_view(kiosk: Kiosk) -> None:
    status, raw = http(kiosk.server.url + "api/state")
    data = json.loads(raw)
    assert status == 200
    assert data["view"]["mode"] == "idle"
    assert data["view"]["buttons"] == ["use_phone", "type_code", "help"]
    assert data["view"]["title_zh"]


def test_input_is_validated_and_queued(kiosk: Kiosk) -> None:
    url = kiosk.server.url + "api/input"
    assert post(url, b'{"kind": "button", "value": "help"}')[0] == 202
    assert kiosk.dispenser.hw.inputs.get(timeout=1) == InputEvent("button", "help")
    status, body = post(url, b'{"kind": "button", "value": "self_destruct"}')
    assert status == 400 and "unsupported input" in body["error"]["message"]
    assert post(url, b"not json")[0] == 400
    assert post(url, b'{"kind": "code", "value": "12ab"}')[0] == 400
    assert post(url, b'{"kind": "help", "value": "x"}', content_type="text/plain")[0] == 415


def test_cross_origin_posts_are_refused(kiosk: Kiosk) -> None:
    status, _ = post(
        kiosk.server.url + "api/input",
        b'{"kind": "button", "value": "help"}',
        Origin="http://evil.example",
    )
    assert status == 403
    assert kiosk.dispenser.hw.inputs.get() is None


def test_sim_hold_puts_a_code_before_the_camera(kiosk: Kiosk) -> None:
    status, _ = post(kiosk.server.url + "api/sim/hold", b'{"payload": "HELLO"}')
    assert status == 202
    assert decode_frame(kiosk.camera.read()) == "HELLO"  # type: ignore[arg-type]
    _, png = cv2.imencode(".png", np.full((100, 100, 3), 255, np.uint8))
    assert post(kiosk.server.url + "api/sim/hold", png.tobytes(), "image/png")[0] == 202
    assert post(kiosk.server.url + "api/sim/hold", b"garbage", "image/png")[0] == 400


def test_sim_play_shows_a_scene_and_refuses_bad_ones_clearly(kiosk: Kiosk) -> None:
    import base64

    frames = []
    for level in (10, 200):
        _, jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), level, np.uint8))
        frames.append(base64.b64encode(jpeg.tobytes()).decode())
    url = kiosk.server.url + "api/sim/play"
    assert post(url, json.dumps({"frames": frames, "fps": 1}).encode()) == (202, {"playing": 2})
    assert abs(int(kiosk.camera.read().mean()) - 10) <= 2  # type: ignore[union-attr]
    bad = [
        ({"frames": "x"}, "send {"),
        ({"frames": []}, "1 to 90 frames"),
        ({"frames": frames, "fps": 0}, "fps must be"),
        ({"frames": ["not base64!"]}, "frame 0 is not base64"),
        ({"frames": [frames[0], base64.b64encode(b"text").decode()]}, "frame 1 is not an image"),
    ]
    for body, message in bad:
        status, answer = post(url, json.dumps(body).encode())
        assert status == 400 and message in answer["error"]["message"], (body, answer)


def test_presence_svg_only_when_required(kiosk: Kiosk) -> None:
    assert http(kiosk.server.url + "presence.svg")[0] == 404


# --- in Chromium -------------------------------------------------------------------------


def test_page_shows_instructions_in_both_languages_and_the_buttons(
    kiosk: Kiosk, browser_page
) -> None:
    page = browser_page
    page.goto(kiosk.server.url)
    page.wait_for_function("document.getElementById('title-en').textContent.length > 0")
    assert "QR" in page.text_content("#title-en")
    assert "二维码" in page.text_content("#title-zh")
    assert page.is_visible("[data-testid=use_phone]")
    assert page.is_visible("[data-testid=type_code]")
    assert page.is_visible("[data-testid=help]")
    assert not page.is_visible("[data-testid=use_face]")
    assert page.is_visible("#sim")  # simulation panel on a simulated dispenser


def test_typing_a_code_on_the_screen_reaches_the_loop(kiosk: Kiosk, browser_page) -> None:
    page = browser_page
    kiosk.dispenser.syncer = type("Up", (), {"online": True, "kick": lambda self: None})()  # type: ignore[assignment]
    page.goto(kiosk.server.url)
    page.click("[data-testid=type_code]")
    kiosk.pump()
    page.wait_for_selector("#keypad:not([hidden])")
    for key in "20261122":
        page.click(f".keys button[data-key='{key}']")
    assert page.text_content("[data-testid=typed]") == "●" * 8
    page.click("[data-testid=submit-code]")
    event = kiosk.dispenser.hw.inputs.get(timeout=5)
    assert event == InputEvent("code", "20261122")


def test_result_is_shown_in_large_text(
    kiosk: Kiosk, browser_page, signing_key, dispenser_id, now
) -> None:
    page = browser_page
    page.goto(kiosk.server.url)
    token = make_token(signing_key, dispenser_id, now)
    post(kiosk.server.url + "api/sim/hold", json.dumps({"payload": token}).encode())
    kiosk.dispenser.handle_frame(kiosk.camera.read())  # type: ignore[arg-type]
    page.wait_for_selector("main[data-mode=result][data-outcome=dispense]")
    assert page.text_content("#title-en") == "Please take your paper"
    size = page.eval_on_selector("#title-zh", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 64
    kiosk.dispenser.handle_frame(kiosk.camera.read())  # same phone: ignored
    assert kiosk.dispenser.store.pending_count() == 1


@pytest.mark.parametrize(
    "kiosk",
    [
        {
            "presence": {
                "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                "interval_seconds": 30,
                "digits": 6,
            }
        }
    ],
    indirect=True,
)
def test_presence_qr_on_screen_scans_to_the_visitor_url(
    kiosk: Kiosk, browser_page, dispenser_id, now
) -> None:
    page = browser_page
    page.goto(kiosk.server.url)
    page.wait_for_selector("#presence:not([hidden])")
    page.wait_for_function("document.getElementById('presence-img').naturalWidth > 0")
    shot = page.locator("#presence-img").screenshot()
    image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    expected = f"http://127.0.0.1:5000/d/{dispenser_id}?p={pyotp.TOTP('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP').at(now)}"
    assert decode_frame(image) == expected


@pytest.mark.parametrize("kiosk", [{"face_mode_allowed": True}], indirect=True)
def test_face_button_and_consent_screen(kiosk: Kiosk, browser_page) -> None:
    page = browser_page
    page.goto(kiosk.server.url)
    page.wait_for_selector("[data-testid=use_face]:visible")
    page.click("[data-testid=use_face]")
    kiosk.pump()
    page.wait_for_selector("main[data-mode=consent]")
    assert kiosk.dispenser.hw.display.current().buttons == (
        "consent_yes",
        "consent_no",
        "more_privacy",
    )
    page.wait_for_selector("[data-testid=consent_no]:visible", timeout=5000)
    assert page.is_visible("[data-testid=consent_yes]")
    assert not page.is_visible("[data-testid=type_code]")


def test_the_simulated_camera_panel_shows_its_errors_on_the_page(
    kiosk: Kiosk, browser_page, tmp_path
) -> None:
    page = browser_page
    page.goto(kiosk.server.url)
    page.wait_for_selector("#sim:not([hidden])")
    status = page.locator("[data-testid=sim-status]")
    # A 5,000-character paste: too long for a QR code, said on the page.
    page.fill("[data-testid=sim-payload]", "A" * 5000)
    page.click("[data-testid=sim-hold]")
    page.wait_for_selector("[data-testid=sim-status][data-outcome=error]")
    assert "5000 characters" in status.inner_text()
    # A file that is not an image.
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a picture")
    page.set_input_files("[data-testid=sim-image]", str(text_file))
    page.wait_for_function(
        "document.querySelector('[data-testid=sim-status]').textContent.includes('not an image')"
    )
    # A good paste is confirmed, so the panel is never silent.
    page.fill("[data-testid=sim-payload]", "HELLO")
    page.click("[data-testid=sim-hold]")
    page.wait_for_selector("[data-testid=sim-status][data-outcome=ok]")
    assert decode_frame(kiosk.camera.read()) == "HELLO"  # type: ignore[arg-type]


def test_new_kiosk_states_screenshots_and_axe(
    kiosk: Kiosk, browser, signing_key, dispenser_id, now
) -> None:
    """Repeat QR ("already given"), a refusal that names the next step, the keypad prompt."""
    from tests.visitor.phone import AXE, ROOT, axe_violations

    if not AXE.exists():
        pytest.skip("axe-core is missing: run `npm ci` (make test does)")
    shots = ROOT / "test-artifacts" / "screenshots" / "kiosk"
    shots.mkdir(parents=True, exist_ok=True)
    # The face branch's test renders every state at 800x480 too (and owns that layout).
    context = browser.new_context(viewport={"width": 1100, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    try:
        d = kiosk.dispenser
        d.config = replace(d.config, simulation=False)  # the real screen, without the panel
        d.refresh_screen()
        page.goto(kiosk.server.url)
        token = make_token(signing_key, dispenser_id, now)
        post(kiosk.server.url + "api/sim/hold", json.dumps({"payload": token}).encode())
        d.handle_frame(kiosk.camera.read())  # type: ignore[arg-type]
        page.wait_for_selector("main[data-mode=result][data-outcome=dispense]")
        d._mode = Mode()  # the result's time ran out
        d.refresh_screen()
        d.handle_frame(kiosk.camera.read())  # type: ignore[arg-type]  # the same phone again
        page.wait_for_function(
            "document.getElementById('title-en').textContent === "
            + json.dumps(messages.ALREADY_GIVEN.en)
        )
        page.screenshot(path=str(shots / "repeat-already-given.png"))
        assert axe_violations(page, AXE.read_text(encoding="utf-8")) == []
        other = make_token(signing_key, new_dispenser(), now)
        post(kiosk.server.url + "api/sim/hold", json.dumps({"payload": other}).encode())
        d.handle_frame(kiosk.camera.read())  # type: ignore[arg-type]
        page.wait_for_function(
            "document.getElementById('title-en').textContent === "
            + json.dumps(messages.refusal_text("wrong_dispenser").en)
        )
        page.screenshot(path=str(shots / "refusal-names-next-step.png"))
        assert axe_violations(page, AXE.read_text(encoding="utf-8")) == []
        d.syncer = type(  # type: ignore[assignment]
            "Up", (), {"online": True, "kick": lambda self: None}
        )()
        d._mode = Mode()
        d.handle_input(InputEvent("button", "type_code"))
        d.refresh_screen()
        page.wait_for_selector("#keypad:not([hidden])")
        assert page.text_content("#title-en") == messages.TYPING.en
        assert "voucher" in messages.TYPING.en and "取纸券" in messages.TYPING.zh
        page.screenshot(path=str(shots / "keypad-phone-or-voucher.png"))
        assert axe_violations(page, AXE.read_text(encoding="utf-8")) == []
    finally:
        context.close()
