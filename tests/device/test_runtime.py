"""The loop around the decision core, with simulated hardware and no backend."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyotp
import pytest

from device import messages
from device.config import DeviceConfig, ScanConfig
from device.decide import Dispense, Refuse
from device.face.types import FaceVerdict, Outcome, Reason
from device.facemode import FrameReader
from device.hardware import Hardware
from device.hardware.actuators import SimulatedMotor, SimulatedPaperSensor
from device.hardware.camera import SimulatedCamera
from device.hardware.inputs import InputEvent, InputQueue, NoInput
from device.hardware.screen import KioskDisplay
from device.runtime import Dispenser, Mode
from device.state import RemoteHolder, open_store
from device.synthetic import camera_frame
from tests.device.helpers import config_doc, make_token, new_dispenser

NEW_FACE = FaceVerdict(
    Outcome.DISPENSE, Reason.NEW_FACE, "Here is your paper.", "请取纸。", entry_id=1
)
SEEN_FACE = FaceVerdict(Outcome.REFUSE, Reason.SEEN_IN_WINDOW, "Already", "已取", entry_id=1)


class FakeFaceChecker:
    """A test double of the face component: answers from a script, records what it got."""

    burst_seconds = 5.0
    max_frames = 3

    def __init__(self, verdict: FaceVerdict) -> None:
        self.verdict = verdict
        self.calls: list[int] = []  # frames the scan got from the reader, per scan
        self.windows: list[int] = []
        self.undone = 0
        self.erased = 0
        self.ticks: list[datetime] = []

    def undo_last(self) -> bool:
        self.undone += 1
        return True

    def tick(self, now: datetime) -> int:
        self.ticks.append(now)
        return 0

    def erase_all(self) -> None:
        self.erased += 1

    def close(self) -> None:
        self.erased += 1

    def scan(self, read: FrameReader, *, now: datetime, window_seconds: int) -> FaceVerdict:
        # Asks for more frames than allowed: the loop's bounded reader must stop at 3.
        frames = [read() for _ in range(self.max_frames + 2)]
        self.calls.append(sum(frame is not None for frame in frames))
        self.windows.append(window_seconds)
        return self.verdict


def make_dispenser(
    tmp_path: Path,
    key: Any,
    dispenser_id: str,
    now: datetime,
    face: Any = None,
    camera: Any = None,
    **policy: Any,
) -> Dispenser:
    """A dispenser on simulated hardware; with a face checker it gets a simulated camera."""
    store = open_store(tmp_path)
    store.set_setting("config_doc", json.dumps(config_doc(dispenser_id, [key], **policy)))
    config = DeviceConfig(state_dir=str(tmp_path), scan=ScanConfig(repeat_seconds=60))
    if camera is None and face is not None:
        camera = SimulatedCamera(fps=0, seed=1)
    hardware = Hardware(
        camera=camera,
        motor=SimulatedMotor(),
        paper=SimulatedPaperSensor(roll_cm=6000),
        display=KioskDisplay(),
        inputs=InputQueue(),
        input_devices=[NoInput()],
    )
    return Dispenser(
        config=config,
        store=store,
        remote=RemoteHolder(store),
        hardware=hardware,
        face=face,
        clock=lambda: now,
    )


def frame_of(token: str, seed: int = 0) -> np.ndarray:
    return camera_frame(token, np.random.default_rng(seed))


def test_qr_frame_dispenses_once_and_records_the_event(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now)
    token = make_token(signing_key, dispenser_id, now)
    decision = d.handle_frame(frame_of(token))
    assert isinstance(decision, Dispense)
    assert d.hw.motor.fed == [60]  # type: ignore[attr-defined]
    [event] = d.store.pending_events(10)
    assert event.body["kind"] == "dispense" and event.body["method"] == "qr"
    view = d.hw.display.current()
    assert view.mode == "result" and view.outcome == "dispense"
    assert view.title_en == "Please take your paper"
    # The phone still in front of the camera is the same attempt: ignored.
    assert d.handle_frame(frame_of(token, seed=1)) is None
    assert d.store.pending_count() == 1


def test_the_same_qr_shown_again_in_the_repeat_window_shows_the_last_result_again(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now)
    token = make_token(signing_key, dispenser_id, now)
    assert isinstance(d.handle_frame(frame_of(token)), Dispense)
    first = d.hw.display.current()
    # Held still: the same result stays on the screen, nothing new is shown or counted.
    assert d.handle_frame(frame_of(token, seed=1)) is None
    assert d.hw.display.current().attempt == first.attempt
    # The result screen timed out (back to idle); the same phone is shown again.
    d._mode = Mode()
    d.refresh_screen()
    assert d.hw.display.current().mode == "idle"
    assert d.handle_frame(frame_of(token, seed=2)) is None
    again = d.hw.display.current()
    assert again.mode == "result" and again.attempt > first.attempt
    assert (again.title_en, again.title_zh) == (
        messages.ALREADY_GIVEN.en,
        messages.ALREADY_GIVEN.zh,
    )
    assert d.store.counts() == {"dispense:qr": 1}
    assert d.hw.motor.fed == [60]  # type: ignore[attr-defined]


def test_a_refused_qr_shown_again_shows_the_refusal_again(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now)
    token = make_token(signing_key, new_dispenser(), now)  # for another dispenser
    refused = d.handle_frame(frame_of(token))
    assert isinstance(refused, Refuse) and refused.reason == "wrong_dispenser"
    d._mode = Mode()
    d.refresh_screen()
    assert d.handle_frame(frame_of(token, seed=3)) is None
    view = d.hw.display.current()
    assert view.mode == "result" and view.outcome == "refuse"
    assert view.title_en == messages.refusal_text("wrong_dispenser").en
    assert d.store.counts() == {"refuse:qr": 1}


def test_replayed_token_is_refused_and_counted(tmp_path, signing_key, dispenser_id, now) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now)
    d.config = replace(d.config, scan=ScanConfig(repeat_seconds=0))
    token = make_token(signing_key, dispenser_id, now)
    assert isinstance(d.handle_frame(frame_of(token)), Dispense)
    decision = d.handle_frame(frame_of(token, seed=2))
    assert isinstance(decision, Refuse) and decision.reason == "already_used"
    assert d.hw.motor.fed == [60]  # type: ignore[attr-defined]
    assert d.hw.display.current().title_en == messages.refusal_text("already_used").en
    assert d.store.counts() == {"dispense:qr": 1, "refuse:qr": 1}


def test_typed_code_offline_says_so_and_offers_qr(tmp_path, signing_key, dispenser_id, now) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now)
    d.handle_input(InputEvent("button", "type_code"))
    assert "QR" in d.hw.display.current().title_en
    decision = d.handle_input(InputEvent("code", "12345678"))
    assert decision == Refuse("code", "offline")


def test_keypad_keys_build_a_code(tmp_path, signing_key, dispenser_id, now) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now)
    for key in "12*1234":
        d.handle_input(InputEvent("key", key))
    d.refresh_screen()
    assert d.hw.display.current().typed_digits == 4
    assert d.handle_input(InputEvent("key", "#")) == Refuse("code", "code_format")


def test_motor_jam_is_reported_and_stops_dispensing(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now)
    d.hw.motor.jam_next = True  # type: ignore[attr-defined]
    assert isinstance(
        d.handle_frame(frame_of(make_token(signing_key, dispenser_id, now))), Dispense
    )
    assert d.status()[1] == "jam"
    decision = d.handle_frame(frame_of(make_token(signing_key, dispenser_id, now), seed=3))
    assert isinstance(decision, Refuse) and decision.reason == "jam"


def test_presence_code_is_shown_when_the_site_requires_it(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    secret = pyotp.random_base32()
    presence = {"secret": secret, "interval_seconds": 30, "digits": 6}
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now, presence=presence)
    d.refresh_screen()
    url = d.hw.display.current().presence_url
    assert url == f"http://127.0.0.1:5000/d/{dispenser_id}?p={pyotp.TOTP(secret).at(now)}"
    assert "secret" not in json.dumps(d.hw.display.current().to_json())


def test_face_button_needs_policy_and_support(tmp_path, signing_key, dispenser_id, now) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    allowed = make_dispenser(
        tmp_path / "a", signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    allowed.refresh_screen()
    assert "use_face" in allowed.hw.display.current().buttons
    no_support = make_dispenser(
        tmp_path / "b", signing_key, dispenser_id, now, face_mode_allowed=True
    )
    no_support.refresh_screen()
    assert "use_face" not in no_support.hw.display.current().buttons
    not_allowed = make_dispenser(tmp_path / "c", signing_key, dispenser_id, now, face=checker)
    not_allowed.refresh_screen()
    assert "use_face" not in not_allowed.hw.display.current().buttons


@pytest.mark.parametrize(("seen", "outcome"), [(False, "dispense"), (True, "refuse")])
def test_face_path_asks_consent_then_checks_a_burst(
    tmp_path, signing_key, dispenser_id, now, seen: bool, outcome: str
) -> None:
    checker = FakeFaceChecker(SEEN_FACE if seen else NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.handle_input(InputEvent("button", "use_face"))
    view = d.hw.display.current() if d.refresh_screen() is None else None
    assert view is not None and view.mode == "consent"
    assert view.buttons == ("consent_yes", "consent_no", "more_privacy")
    assert "9 minutes" in view.detail_en and "9 分钟" in view.detail_zh
    d.step()
    assert checker.calls == []  # no scan before consent
    d.handle_input(InputEvent("consent", "yes"))
    assert d.hw.display.current().mode == "face"  # "look and turn" before the scan
    assert d.handle_frame(frame_of("not scanned in face mode")) is None
    d.step()
    assert checker.calls == [3] and checker.windows == [540]  # bounded by max_frames
    assert d.hw.display.current().outcome == outcome
    assert d.store.counts() == {f"{outcome}:face": 1}
    assert all("token_ref" not in e.body for e in d.store.pending_events(10))


def test_declining_consent_returns_to_the_phone_path(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.handle_input(InputEvent("button", "use_face"))
    d.handle_input(InputEvent("consent", "no"))
    d.refresh_screen()
    assert d.hw.display.current().mode == "idle"
    token = make_token(signing_key, dispenser_id, now)
    assert isinstance(d.handle_frame(frame_of(token)), Dispense)
    assert checker.calls == []


def test_face_dispense_is_undone_when_the_motor_jams(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.hw.motor.jam_next = True  # type: ignore[attr-defined]
    d.handle_input(InputEvent("button", "use_face"))
    d.handle_input(InputEvent("consent", "yes"))
    d.step()
    assert checker.undone == 1


def test_face_problem_shows_its_message_and_counts_nothing(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    verdict = FaceVerdict(Outcome.NO_FACE, Reason.TOO_DARK, "Too dark", "太暗")
    checker = FakeFaceChecker(verdict)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.handle_input(InputEvent("button", "use_face"))
    d.handle_input(InputEvent("consent", "yes"))
    d.step()
    assert d.hw.display.current().title_en == "Too dark to see a face"
    assert d.hw.display.current().detail_en == "Too dark"
    assert d.store.pending_count() == 0


def test_presence_code_rotates_with_the_interval(tmp_path, signing_key, dispenser_id, now) -> None:
    from datetime import timedelta

    secret = pyotp.random_base32()
    presence = {"secret": secret, "interval_seconds": 30, "digits": 6}
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now, presence=presence)
    moments = [now, now + timedelta(seconds=30), now + timedelta(seconds=60)]
    urls = []
    for moment in moments:
        d.clock = lambda moment=moment: moment
        d.refresh_screen()
        urls.append(d.hw.display.current().presence_url)
    assert urls == [
        f"http://127.0.0.1:5000/d/{dispenser_id}?p={pyotp.TOTP(secret).at(m)}" for m in moments
    ]
    assert len(set(urls)) == 3


def test_unrestricted_dispenser_gives_paper_on_a_press(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now, unrestricted=True)
    d.refresh_screen()
    assert d.hw.display.current().buttons == ("dispense", "help")
    assert d.handle_input(InputEvent("button", "dispense")) == Dispense("unrestricted")
    assert d.store.counts() == {"dispense:unrestricted": 1}


def test_empty_roll_is_reported_and_refuses(tmp_path, signing_key, dispenser_id, now) -> None:
    d = make_dispenser(tmp_path, signing_key, dispenser_id, now, portion_cm=3000)
    assert isinstance(
        d.handle_frame(frame_of(make_token(signing_key, dispenser_id, now))), Dispense
    )
    assert d.hw.paper.level() == 50
    d.handle_frame(frame_of(make_token(signing_key, dispenser_id, now), seed=1))
    assert d.status() == (0, "empty")
    decision = d.handle_frame(frame_of(make_token(signing_key, dispenser_id, now), seed=2))
    assert isinstance(decision, Refuse) and decision.reason == "empty"
    d.handle_input(InputEvent("service", "refill"))
    assert d.status() == (100, "ok")


def test_turning_face_mode_off_in_a_config_refresh_erases_held_faces(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.step()
    assert checker.erased == 0
    d.handle_input(InputEvent("button", "use_face"))  # a visitor is reading the consent
    d.remote.replace(config_doc(dispenser_id, [signing_key], face_mode_allowed=False), "e2")
    d.step()
    assert checker.erased == 1
    d.refresh_screen()
    assert d.hw.display.current().mode == "idle"
    assert "use_face" not in d.hw.display.current().buttons
    d.handle_input(InputEvent("consent", "yes"))  # too late: face mode is off
    d.step()
    assert checker.calls == [] and checker.erased == 1


def test_disabling_the_dispenser_erases_held_faces(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.step()
    doc = config_doc(dispenser_id, [signing_key], face_mode_allowed=True, enabled=False)
    d.remote.replace(doc, "e2")
    d.step()
    assert checker.erased == 1


def test_the_loop_ticks_the_checker_with_its_clock(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.step()
    d.step()
    assert checker.ticks == [now, now]


def test_face_dispense_refused_for_another_reason_is_undone(
    tmp_path, signing_key, dispenser_id, now
) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.hw.paper.level = lambda: 0  # type: ignore[method-assign]  # the roll ran out
    d.handle_input(InputEvent("button", "use_face"))
    d.handle_input(InputEvent("consent", "yes"))
    d.step()
    assert d.store.counts() == {"refuse:face": 1}
    assert checker.undone == 1


def test_a_seen_face_is_never_undone(tmp_path, signing_key, dispenser_id, now) -> None:
    checker = FakeFaceChecker(SEEN_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.handle_input(InputEvent("button", "use_face"))
    d.handle_input(InputEvent("consent", "yes"))
    d.step()
    assert checker.undone == 0


def test_consent_states_the_sites_window(tmp_path, signing_key, dispenser_id, now) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path,
        signing_key,
        dispenser_id,
        now,
        face=checker,
        face_mode_allowed=True,
        window_seconds=420,
    )
    d.handle_input(InputEvent("button", "use_face"))
    d.refresh_screen()
    assert "7 minutes" in d.hw.display.current().detail_en
    d.handle_input(InputEvent("consent", "yes"))
    d.step()
    assert checker.windows == [420]


def test_no_face_button_without_a_camera(tmp_path, signing_key, dispenser_id, now) -> None:
    checker = FakeFaceChecker(NEW_FACE)
    d = make_dispenser(
        tmp_path, signing_key, dispenser_id, now, face=checker, face_mode_allowed=True
    )
    d.hw.camera = None
    d.refresh_screen()
    assert "use_face" not in d.hw.display.current().buttons
    d.handle_input(InputEvent("button", "use_face"))
    d.refresh_screen()
    assert d.hw.display.current().mode == "idle"
