"""Hardware protocols and their real and simulated back-ends, chosen by the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from device.config import DeviceConfig
from device.hardware.actuators import (
    GpioMotor,
    GpioPaperSensor,
    Motor,
    PaperSensor,
    SimulatedMotor,
    SimulatedPaperSensor,
)
from device.hardware.camera import Camera, OpenCVCamera, ReplayCamera, SimulatedCamera
from device.hardware.inputs import (
    GpioButtons,
    GpioMatrixKeypad,
    InputDevice,
    InputQueue,
    NoInput,
)
from device.hardware.screen import ConsoleDisplay, Display, KioskDisplay


@dataclass
class Hardware:
    """The dispenser's parts, built from the config."""

    camera: Camera | None
    motor: Motor
    paper: PaperSensor
    display: Display
    inputs: InputQueue
    input_devices: list[InputDevice]

    def close(self) -> None:
        """Release every part."""
        if self.camera is not None:
            self.camera.close()
        self.motor.close()
        self.paper.close()
        for device in self.input_devices:
            device.close()


def build_camera(config: DeviceConfig) -> Camera | None:
    """The camera chosen by ``camera.type``."""
    cam = config.camera
    if cam.type == "opencv":
        return OpenCVCamera(cam.device, cam.width, cam.height, cam.fps)
    if cam.type == "replay":
        return ReplayCamera(cam.path, loop=cam.loop, fps=cam.fps)
    if cam.type == "simulated":
        return SimulatedCamera(width=cam.width, height=cam.height, fps=cam.fps)
    return None


def build_hardware(config: DeviceConfig, *, pin_factory: Any = None) -> Hardware:
    """Build every part from the config (``pin_factory``: gpiozero's, e.g. a MockFactory)."""
    inputs = InputQueue()
    motor: Motor
    if config.motor.type == "gpio":
        motor = GpioMotor(
            config.motor.pin,
            seconds_per_cm=config.motor.seconds_per_cm,
            active_high=config.motor.active_high,
            feed_sensor_pin=config.motor.feed_sensor_pin,
            pin_factory=pin_factory,
        )
    else:
        motor = SimulatedMotor()
    paper: PaperSensor
    if config.paper.type == "gpio":
        paper = GpioPaperSensor(
            low_pin=config.paper.low_pin, empty_pin=config.paper.empty_pin, pin_factory=pin_factory
        )
    else:
        paper = SimulatedPaperSensor(roll_cm=config.paper.roll_cm)
    devices: list[InputDevice] = []
    if config.buttons.type == "gpio":
        b = config.buttons
        pins = {
            "use_phone": b.use_phone,
            "type_code": b.type_code,
            "use_face": b.use_face,
            "help": b.help,
            "dispense": b.dispense,
        }
        devices.append(GpioButtons(pins, inputs.put, pin_factory=pin_factory))
    if config.keypad.type == "gpio_matrix":
        k = config.keypad
        devices.append(
            GpioMatrixKeypad(k.rows, k.cols, k.keys, inputs.put, pin_factory=pin_factory)
        )
    if not devices:
        devices.append(NoInput())
    display: Display = KioskDisplay() if config.screen.type == "kiosk" else ConsoleDisplay()
    return Hardware(
        camera=build_camera(config),
        motor=motor,
        paper=paper,
        display=display,
        inputs=inputs,
        input_devices=devices,
    )
