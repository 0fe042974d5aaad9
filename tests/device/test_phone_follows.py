"""End to end: the phone shows "Paper given" soon after the real dispenser program dispenses.

Real processes: the backend (tests/device/backend_process.py), the dispenser program
(`python -m device simulate`, whose simulated camera is shown the phone's screenshot),
and the phone page in Chromium. The bound is generous (the machine is shared); the
figure itself is measured by bench/phone_follows.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.device.backend_process import BackendProcess
from tests.device.phone_rig import Rig, enrolled_dispenser, visit
from tests.visitor.phone import phone

GENEROUS_SECONDS = 15


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    server = BackendProcess(tmp_path_factory.mktemp("backend"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rig(backend: BackendProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    state = tmp_path_factory.mktemp("dispenser") / "state"
    with enrolled_dispenser(backend, state) as started:
        yield started


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_phone_shows_paper_given_soon_after_the_dispense(
    browser: Any, rig: Rig, lang: str
) -> None:
    with phone(browser, rig.backend_url, lang) as tab:
        seconds = visit(tab.page, rig, lang, timeout_ms=GENEROUS_SECONDS * 1000)
        assert seconds < GENEROUS_SECONDS
        assert tab.page.locator("#live-token").is_hidden()
        assert tab.page.locator("svg.qr").is_hidden()
        assert tab.errors == []


def test_each_redemption_arrives_once_though_sent_at_once_and_again_with_the_batch(
    backend: BackendProcess, rig: Rig, browser: Any
) -> None:
    with phone(browser, rig.backend_url, "en") as tab:
        visit(tab.page, rig, "en", timeout_ms=GENEROUS_SECONDS * 1000)
    rows = backend.query(
        "SELECT e.token_ref, count(*) FROM device_event e JOIN dispenser d "
        "ON d.id = e.dispenser_id WHERE d.public_id = ? AND e.kind = 'dispense' "
        "GROUP BY e.token_ref",
        rig.public_id,
    )
    assert rows and all(ref is not None and count == 1 for ref, count in rows)
