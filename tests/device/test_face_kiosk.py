"""Issue 5's "done when": face mode end to end through the real dispenser and its kiosk.

Real face photos (shipped in installed packages) turn their heads before the simulated
camera; the loop scans them with the real dlib pipeline and parallax liveness check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.state import open_store
from tests.device.face_device import FaceKiosk, face_config, scene_body, start_face_kiosk
from tests.device.helpers import config_doc, new_dispenser

WINDOW = 420  # not the checker's default (540), so the consent test means something


@pytest.fixture(scope="module")
def clock() -> list[datetime]:
    # Starts at the real time: the checker's own erasure timer runs on the wall clock.
    return [datetime.now(UTC).replace(microsecond=0)]


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory, clock: list[datetime]) -> Iterator[FaceKiosk]:
    """One dispenser for the module (loading the face models once)."""
    config = face_config(tmp_path_factory.mktemp("face-kiosk"))
    store = open_store(config.state_path)
    key = Ed25519PrivateKey.generate()
    doc = config_doc(new_dispenser(), [key], face_mode_allowed=True, window_seconds=WINDOW)
    store.set_setting("config_doc", json.dumps(doc))
    store.close()
    running = start_face_kiosk(config, lambda: clock[0])
    yield running
    running.stop()


def test_first_visit_dispenses_same_face_is_refused_other_face_dispenses_window_ends(
    kiosk: FaceKiosk, clock: list[datetime]
) -> None:
    first_at = clock[0]
    assert "use_face" in kiosk.view()["buttons"]

    first = kiosk.visit(scene_body("astronaut", seed=0))
    assert first["outcome"] == "dispense", first

    clock[0] = first_at + timedelta(seconds=60)
    again = kiosk.visit(scene_body("astronaut", seed=1))
    assert again["outcome"] == "refuse", again

    other = kiosk.visit(scene_body("grace_hopper", seed=0))
    assert other["outcome"] == "dispense", other

    clock[0] = first_at + timedelta(seconds=WINDOW + 1)
    after = kiosk.visit(scene_body("astronaut", seed=2))
    assert after["outcome"] == "dispense", after

    assert kiosk.running.store.counts() == {"dispense:face": 3, "refuse:face": 1}
    assert kiosk.running.hardware.motor.fed == [60, 60, 60]  # type: ignore[attr-defined]


def test_consent_screen_states_the_sites_window(kiosk: FaceKiosk) -> None:
    kiosk.press("use_face")
    view = kiosk.wait_for(lambda v: v["mode"] == "consent")
    assert "7 minutes" in view["detail_en"] and "7 分钟" in view["detail_zh"]
    assert view["buttons"] == ["consent_yes", "consent_no", "more_privacy"]
    kiosk.press("consent_no")
    kiosk.wait_for(lambda v: v["mode"] == "idle")


def test_one_visit_in_headless_chromium(kiosk: FaceKiosk, browser_page) -> None:
    scene = scene_body("group_5")  # made first: the scan starts when the visitor agrees
    page = browser_page
    page.goto(kiosk.url)
    page.click("[data-testid=use_face]")
    page.wait_for_selector("main[data-mode=consent]")
    page.click("[data-testid=consent_yes]")
    kiosk.wait_for(lambda v: v["mode"] == "face")
    kiosk.post("/api/sim/play", scene)
    page.wait_for_selector("main[data-mode=result]", timeout=15000)
    assert page.get_attribute("main", "data-outcome") == "dispense", kiosk.view()
    assert kiosk.running.hardware.motor.fed[-1] == 60  # type: ignore[attr-defined]


def test_the_panels_head_turn_button_gets_paper_for_the_demo(kiosk: FaceKiosk, clock) -> None:
    """The simulation panel's "a visitor turns their head" (a package photo, turning)."""
    clock[0] = clock[0] + timedelta(seconds=WINDOW * 3)  # a fresh window for this visitor
    started = kiosk.post("/api/sim/face", b"")
    assert started["seconds"] >= 20
    kiosk.press("use_face")
    kiosk.wait_for(lambda v: v["mode"] == "consent")
    kiosk.press("consent_yes")
    kiosk.wait_for(lambda v: v["mode"] == "face")
    view = kiosk.wait_for(lambda v: v["mode"] == "result")
    assert view["outcome"] == "dispense", view
