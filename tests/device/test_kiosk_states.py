"""Every kiosk state, rendered in headless Chromium at both kiosk sizes: nothing clipped.

Each state is reached through the real loop (``Dispenser``: its inputs, its decisions,
its face verdict handling) with simulated hardware and a scripted face component, and
shown by the real kiosk server and page. The page shows both languages at once, so each
screenshot holds the zh-CN and the English text. For every state and size the test
fails if any element's content is wider or taller than its box (scroll size against
client size), if the page itself scrolls, or if axe-core finds a violation; it leaves a
screenshot in ``test-artifacts/screenshots/kiosk/``.

To add a state, add one entry to ``STATES``: a name and what the visitor (or the
dispenser) does to get there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from device import messages
from device.decide import Dispense, Refuse
from device.face.messages import unusable
from device.face.types import Reason
from device.hardware.camera import SimulatedCamera
from device.hardware.inputs import InputEvent
from device.kiosk.server import KioskServer
from device.runtime import Dispenser
from tests.device.test_runtime import NEW_FACE, FakeFaceChecker, make_dispenser
from tests.visitor.phone import AXE, axe_violations

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / "kiosk"
SIZES = [(800, 480), (1100, 1000)]
FACE_PROBLEMS = [
    Reason.NO_FACE,
    Reason.NOT_LIVE,
    Reason.TOO_DARK,
    Reason.TOO_FAR,
    Reason.SEVERAL_FACES,
    Reason.NO_FRAMES,
    Reason.UNAVAILABLE,
]


def press(*events: tuple[str, str]) -> Callable[[Dispenser, datetime], None]:
    """Inputs as the kiosk page or the keypad sends them."""

    def act(dispenser: Dispenser, now: datetime) -> None:
        for kind, value in events:
            dispenser.handle_input(InputEvent(kind, value))

    return act


def refused(reason: str, retry: bool = True) -> Callable[[Dispenser, datetime], None]:
    def act(dispenser: Dispenser, now: datetime) -> None:
        retry_at = now + timedelta(minutes=7) if retry else None
        dispenser.carry_out(Refuse("qr", reason, retry_at=retry_at), now)

    return act


def face_problem(reason: Reason) -> Callable[[Dispenser, datetime], None]:
    def act(dispenser: Dispenser, now: datetime) -> None:
        assert dispenser.face is not None
        dispenser._act_on_verdict(dispenser.face, unusable(reason))

    return act


STATES: dict[str, Callable[[Dispenser, datetime], None]] = {
    "idle": press(),
    "typing": press(("key", "1"), ("key", "2"), ("key", "3")),
    "help": press(("button", "help")),
    "consent": press(("button", "use_face")),
    "more-privacy": press(("button", "use_face"), ("button", "more_privacy")),
    "scanning": press(("button", "use_face"), ("consent", "yes")),
    "result-dispense": lambda d, now: d.carry_out(Dispense("qr"), now),
    **{f"refuse-{reason}": refused(reason) for reason in messages.REFUSALS},
    **{f"face-{reason.value}": face_problem(reason) for reason in FACE_PROBLEMS},
}

# Every element whose content is larger than its box, and the page's own overflow.
OVERFLOWS = """() => {
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > innerWidth || root.scrollHeight > innerHeight)
    found.push(`page ${root.scrollWidth}x${root.scrollHeight} in ${innerWidth}x${innerHeight}`);
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('[hidden]') || el.tagName === 'SCRIPT') continue;
    if (getComputedStyle(el).display === 'inline') continue;
    if (!el.clientWidth && !el.clientHeight) continue;
    if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)
      found.push(`${el.tagName.toLowerCase()}#${el.id || el.dataset.testid || ''} ` +
                 `${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
  }
  return found;
}"""


@pytest.fixture
def kiosk(tmp_path, signing_key, dispenser_id, now) -> Iterator[tuple[Dispenser, str]]:
    face = FakeFaceChecker(NEW_FACE)
    camera = SimulatedCamera(fps=0, seed=1)
    dispenser = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=face, camera=camera, face_mode_allowed=True
    )
    server = KioskServer(dispenser.hw.display, dispenser.hw.inputs, port=0)  # type: ignore[arg-type]
    server.start()
    yield dispenser, server.url
    server.stop()


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run `npm ci` (make test does)")
    return AXE.read_text(encoding="utf-8")


@pytest.mark.parametrize("state", list(STATES))
def test_kiosk_state_fits_both_screens_and_passes_axe(
    state: str, kiosk: tuple[Dispenser, str], browser: Any, axe_source: str, now: datetime
) -> None:
    dispenser, url = kiosk
    STATES[state](dispenser, now)
    dispenser.refresh_screen()
    view = dispenser.hw.display.current()
    assert view.title_en and view.title_zh, view
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        try:
            page = context.new_page()
            page.goto(url)
            page.wait_for_function(
                "([mode, title]) => document.getElementById('screen').dataset.mode === mode"
                " && document.getElementById('title-en').textContent === title",
                arg=[view.mode, view.title_en],
            )
            page.evaluate("document.fonts.ready")
            page.screenshot(path=str(SCREENSHOTS / f"{state}-{width}x{height}.png"))
            assert page.evaluate(OVERFLOWS) == [], f"{state} at {width}x{height}"
            assert axe_violations(page, axe_source) == [], f"{state} at {width}x{height}"
        finally:
            context.close()
