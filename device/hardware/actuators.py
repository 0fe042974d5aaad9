"""The paper motor and the paper sensor: GPIO (gpiozero) and simulated back-ends."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

PAPER_LOW_PERCENT = 15


class MotorJam(RuntimeError):
    """The motor could not feed the paper."""


class Motor(Protocol):
    """Feeds paper.

    ``feed(cm)`` blocks until the portion is out and raises MotorJam if it could not be
    fed; ``close`` releases the pins.
    """

    def feed(self, cm: int) -> None: ...

    def close(self) -> None: ...


class PaperSensor(Protocol):
    """Knows how much paper is left.

    ``level`` is 0-100 (percent of a roll; a two-switch sensor reports 100, 15 or 0);
    ``note_fed(cm)`` tells it a portion went out (used where the level is estimated).
    """

    def level(self) -> int: ...

    def note_fed(self, cm: int) -> None: ...

    def close(self) -> None: ...


class GpioMotor:
    """A motor driver switched by one GPIO pin for a time proportional to the length."""

    def __init__(
        self,
        pin: int,
        *,
        seconds_per_cm: float,
        active_high: bool = True,
        feed_sensor_pin: int = 0,
        pin_factory: Any = None,
    ) -> None:
        from gpiozero import DigitalInputDevice, DigitalOutputDevice

        self.seconds_per_cm = seconds_per_cm
        self._output = DigitalOutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )
        # An optional light barrier at the paper exit (pulled up, paper present = low).
        self._sensor = (
            DigitalInputDevice(feed_sensor_pin, pull_up=True, pin_factory=pin_factory)
            if feed_sensor_pin > 0
            else None
        )

    def feed(self, cm: int) -> None:
        """Run the motor long enough for ``cm`` centimetres; MotorJam if no paper came out."""
        paper_seen = self._sensor is None
        deadline = time.monotonic() + cm * self.seconds_per_cm
        self._output.on()
        try:
            while (left := deadline - time.monotonic()) > 0:
                if self._sensor is not None and self._sensor.is_active:
                    paper_seen = True
                time.sleep(min(left, 0.01))
        finally:
            self._output.off()
        if not paper_seen:
            raise MotorJam("the exit sensor saw no paper while the motor ran")

    def close(self) -> None:
        """Release the pins (the motor is off)."""
        self._output.close()
        if self._sensor is not None:
            self._sensor.close()


class SimulatedMotor:
    """Counts the paper it would feed; ``jam_next`` makes the next feed fail."""

    def __init__(self, *, seconds_per_cm: float = 0.0) -> None:
        self.seconds_per_cm = seconds_per_cm
        self.fed: list[int] = []
        self.jam_next = False
        self._lock = threading.Lock()

    def feed(self, cm: int) -> None:
        """Record the portion, after the time a real motor would take."""
        if self.seconds_per_cm:
            time.sleep(cm * self.seconds_per_cm)
        with self._lock:
            if self.jam_next:
                self.jam_next = False
                raise MotorJam("simulated jam")
            self.fed.append(cm)

    def close(self) -> None:
        """Nothing to release."""


class GpioPaperSensor:
    """Two switches on the roll holder: one closes when paper runs low, one when empty."""

    def __init__(self, *, low_pin: int, empty_pin: int, pin_factory: Any = None) -> None:
        from gpiozero import DigitalInputDevice

        self._low = DigitalInputDevice(low_pin, pull_up=True, pin_factory=pin_factory)
        self._empty = DigitalInputDevice(empty_pin, pull_up=True, pin_factory=pin_factory)

    def level(self) -> int:
        """100, PAPER_LOW_PERCENT or 0 depending on which switch is closed."""
        if self._empty.is_active:
            return 0
        if self._low.is_active:
            return PAPER_LOW_PERCENT
        return 100

    def note_fed(self, cm: int) -> None:
        """The switches measure directly; nothing to estimate."""

    def close(self) -> None:
        """Release the pins."""
        self._low.close()
        self._empty.close()


class SimulatedPaperSensor:
    """Estimates the level of a simulated roll from what was fed; ``refill`` resets it."""

    def __init__(self, *, roll_cm: int) -> None:
        self.roll_cm = max(1, roll_cm)
        self.remaining_cm = self.roll_cm
        self._lock = threading.Lock()

    def level(self) -> int:
        """Percent of the roll left."""
        with self._lock:
            return max(0, round(100 * self.remaining_cm / self.roll_cm))

    def note_fed(self, cm: int) -> None:
        """Subtract a fed portion."""
        with self._lock:
            self.remaining_cm = max(0, self.remaining_cm - cm)

    def refill(self) -> None:
        """Put a full roll in."""
        with self._lock:
            self.remaining_cm = self.roll_cm

    def close(self) -> None:
        """Nothing to release."""
