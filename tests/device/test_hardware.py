"""Hardware back-ends: gpiozero devices on its mock pin factory, replay and simulated cameras."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from device.config import parse_config
from device.hardware import build_hardware
from device.hardware.actuators import (
    PAPER_LOW_PERCENT,
    GpioMotor,
    GpioPaperSensor,
    MotorJam,
    SimulatedMotor,
    SimulatedPaperSensor,
)
from device.hardware.camera import ReplayCamera, SimulatedCamera
from device.hardware.inputs import GpioButtons, GpioMatrixKeypad, InputEvent, InputQueue
from device.qr import decode_frame
from device.synthetic import camera_frame


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.close()


def test_gpio_motor_is_on_only_while_feeding(pins: MockFactory) -> None:
    motor = GpioMotor(17, seconds_per_cm=0.002, pin_factory=pins)
    pin = pins.pin(17)
    motor.feed(60)
    # The mock pin records every change with the time since the one before: no watcher
    # thread racing the motor, however loaded the machine.
    pin.assert_states([False, True, False])
    assert pin.states[-1].timestamp >= 60 * 0.002
    motor.close()


def test_gpio_motor_reports_a_jam_when_the_exit_sensor_sees_no_paper(pins: MockFactory) -> None:
    motor = GpioMotor(17, seconds_per_cm=0.001, feed_sensor_pin=27, pin_factory=pins)
    with pytest.raises(MotorJam):
        motor.feed(50)
    assert pins.pin(17).state == 0

    # Paper reaches the exit barrier when the motor turns on: the mock output pin's change
    # drives the barrier's pin, so no thread races the 50 ms feed.
    output = pins.pin(17)
    change_state = output._change_state

    def motor_moves_paper(value: bool) -> bool:
        changed = bool(change_state(value))
        if value:
            pins.pin(27).drive_low()
        return changed

    output._change_state = motor_moves_paper  # type: ignore[method-assign]
    motor.feed(50)  # the barrier saw the paper: no jam
    motor.close()


def test_gpio_paper_sensor_reads_its_switches(pins: MockFactory) -> None:
    sensor = GpioPaperSensor(low_pin=24, empty_pin=25, pin_factory=pins)
    assert sensor.level() == 100
    pins.pin(24).drive_low()
    assert sensor.level() == PAPER_LOW_PERCENT
    pins.pin(25).drive_low()
    assert sensor.level() == 0
    sensor.close()


def test_gpio_buttons_send_named_presses(pins: MockFactory) -> None:
    queue = InputQueue()
    buttons = GpioButtons({"use_phone": 5, "help": 13, "use_face": 0}, queue.put, pin_factory=pins)
    pins.pin(13).drive_low()
    assert queue.get(timeout=1) == InputEvent("button", "help")
    pins.pin(13).drive_high()
    pins.pin(5).drive_low()
    assert queue.get(timeout=1) == InputEvent("button", "use_phone")
    buttons.close()


def _wait_for_scans(keypad: GpioMatrixKeypad, count: int) -> None:
    """Block until the keypad's own scanning thread has read the matrix ``count`` more times."""
    done = threading.Event()
    scan_once = keypad.scan_once
    seen = 0

    def counted() -> set[str]:
        nonlocal seen
        held = scan_once()
        seen += 1
        if seen >= count:
            done.set()
        return held

    keypad.scan_once = counted  # type: ignore[method-assign]
    try:
        assert done.wait(timeout=10), "the keypad thread stopped scanning"
    finally:
        keypad.scan_once = scan_once  # type: ignore[method-assign]


def test_matrix_keypad_reports_a_key_once_per_press(pins: MockFactory) -> None:
    queue = InputQueue()
    keypad = GpioMatrixKeypad([26], [16, 12, 7], "123", queue.put, pin_factory=pins)
    pins.pin(12).drive_low()  # with one row, column 2 down means key "2" down
    assert queue.get(timeout=1) == InputEvent("key", "2")
    _wait_for_scans(keypad, 5)
    assert queue.get() is None  # held through five scans, not repeated
    pins.pin(12).drive_high()
    _wait_for_scans(keypad, 2)  # a whole scan saw the key up
    pins.pin(12).drive_low()
    assert queue.get(timeout=1) == InputEvent("key", "2")
    keypad.close()


def test_simulated_motor_and_roll() -> None:
    motor = SimulatedMotor()
    motor.feed(60)
    motor.jam_next = True
    with pytest.raises(MotorJam):
        motor.feed(60)
    assert motor.fed == [60]
    roll = SimulatedPaperSensor(roll_cm=120)
    roll.note_fed(90)
    assert roll.level() == 25
    roll.refill()
    assert roll.level() == 100


def test_hardware_is_built_from_config_on_mock_pins(pins: MockFactory, tmp_path: Path) -> None:
    config = parse_config(
        f"""
        state_dir = "{tmp_path}"
        [camera]
        type = "none"
        [motor]
        type = "gpio"
        pin = 17
        [buttons]
        type = "gpio"
        help = 13
        [paper]
        type = "gpio"
        low_pin = 24
        empty_pin = 25
        [screen]
        type = "console"
        """
    )
    hardware = build_hardware(config, pin_factory=pins)
    assert isinstance(hardware.motor, GpioMotor)
    assert hardware.camera is None
    pins.pin(13).drive_low()
    assert hardware.inputs.get(timeout=1) == InputEvent("button", "help")
    hardware.close()


def test_replay_camera_reads_a_folder_in_order_and_loops(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((48, 64, 3), i * 50, np.uint8))
    camera = ReplayCamera(tmp_path, loop=True, fps=0)
    values = [int(camera.read()[0, 0, 0]) for _ in range(4)]  # type: ignore[index]
    assert values == [0, 50, 100, 0]


def test_replay_camera_plays_a_video_once(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    camera = ReplayCamera(path, loop=False, fps=0)
    frames = [camera.read() for _ in range(6)]
    assert sum(f is not None for f in frames) == 5
    assert frames[-1] is None
    camera.close()


def test_replay_camera_rejects_what_it_cannot_play(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        ReplayCamera(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="no images"):
        ReplayCamera(tmp_path)


def test_simulated_camera_shows_what_is_held() -> None:
    camera = SimulatedCamera(fps=0, seed=4)
    assert decode_frame(camera.read()) is None  # type: ignore[arg-type]
    camera.hold_payload("HELLO FAIRROLL", seconds=5)
    assert decode_frame(camera.read()) == "HELLO FAIRROLL"  # type: ignore[arg-type]
    screenshot = camera_frame("FROM A SCREENSHOT", np.random.default_rng(0))
    camera.hold_image(screenshot, seconds=5)
    assert decode_frame(camera.read()) == "FROM A SCREENSHOT"  # type: ignore[arg-type]


def test_a_camera_that_cannot_open_is_reported_as_faulty(tmp_path: Path) -> None:
    from device.hardware.camera import OpenCVCamera

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    camera = OpenCVCamera(str(tmp_path / "no-such-camera"), 640, 480, 15)
    assert camera.read() is None
    assert not camera.healthy
    camera.close()
