"""Visitor input: push buttons and keypads, delivered as events into one queue.

The kiosk page's on-screen buttons and keypad put the same events into the same queue,
so the loop does not care where a press came from.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

BUTTONS = ("use_phone", "type_code", "use_face", "help", "dispense", "cancel")
KEYPAD_KEYS = set("0123456789*#")


@dataclass(frozen=True)
class InputEvent:
    """One thing the visitor did: ``kind`` is button, key, code or consent."""

    kind: str
    value: str


class InputQueue:
    """A thread-safe queue of InputEvents; anything may ``put``, the loop ``get``s."""

    def __init__(self) -> None:
        self._queue: queue.Queue[InputEvent] = queue.Queue(maxsize=100)

    def put(self, event: InputEvent) -> bool:
        """Add an event; returns False (dropping it) if the queue is full."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            return False
        return True

    def get(self, timeout: float = 0.0) -> InputEvent | None:
        """The next event, waiting at most ``timeout`` seconds."""
        try:
            if timeout <= 0:
                return self._queue.get_nowait()
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


Sink = Callable[[InputEvent], Any]


class InputDevice(Protocol):
    """Physical input hardware that sends InputEvents to a sink until closed."""

    def close(self) -> None: ...


class NoInput:
    """No physical buttons or keypad: input comes from the kiosk page only."""

    def close(self) -> None:
        """Nothing to release."""


class GpioButtons:
    """Push buttons on GPIO pins (pulled up, pressed = low)."""

    def __init__(self, pins: dict[str, int], sink: Sink, *, pin_factory: Any = None) -> None:
        from gpiozero import Button

        self._buttons = []
        for name, pin in pins.items():
            if name not in BUTTONS:
                raise ValueError(f"unknown button {name!r}")
            if pin <= 0:
                continue
            button = Button(pin, pull_up=True, bounce_time=0.05, pin_factory=pin_factory)
            button.when_pressed = _press_handler(sink, name)
            self._buttons.append(button)

    def close(self) -> None:
        """Release the pins."""
        for button in self._buttons:
            button.close()


def _press_handler(sink: Sink, name: str) -> Callable[[], None]:
    def handler() -> None:
        sink(InputEvent("button", name))

    return handler


class GpioMatrixKeypad:
    """A row/column matrix keypad scanned by a background thread.

    Each row is driven low in turn and the (pulled-up) columns are read; a key is sent
    once when it goes down, and again only after it was released.
    """

    SCAN_SECONDS = 0.02

    def __init__(
        self,
        rows: list[int],
        cols: list[int],
        keys: str,
        sink: Sink,
        *,
        pin_factory: Any = None,
    ) -> None:
        from gpiozero import DigitalInputDevice, DigitalOutputDevice

        if len(rows) * len(cols) != len(keys):
            raise ValueError("rows x cols must equal the number of key labels")
        self._keys = keys
        self._sink = sink
        self._rows = [
            DigitalOutputDevice(p, active_high=False, initial_value=False, pin_factory=pin_factory)
            for p in rows
        ]
        self._cols = [DigitalInputDevice(p, pull_up=True, pin_factory=pin_factory) for p in cols]
        self._down: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keypad", daemon=True)
        self._thread.start()

    def scan_once(self) -> set[str]:
        """Read the whole matrix once; return the labels of the keys held down."""
        held: set[str] = set()
        for r, row in enumerate(self._rows):
            row.on()  # active low: "on" drives the row to 0 V
            for c, col in enumerate(self._cols):
                if col.is_active:
                    held.add(self._keys[r * len(self._cols) + c])
            row.off()
        return held

    def _run(self) -> None:
        while not self._stop.is_set():
            held = self.scan_once()
            for key in sorted(held - self._down):
                self._sink(InputEvent("key", key))
            self._down = held
            time.sleep(self.SCAN_SECONDS)

    def close(self) -> None:
        """Stop scanning and release the pins."""
        self._stop.set()
        self._thread.join(timeout=1)
        for device in [*self._rows, *self._cols]:
            device.close()
