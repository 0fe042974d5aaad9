"""A dispenser process for the crash test: redeems tokens from a file until killed.

``python -m tests.device.crash_worker STATE_DIR TOKENS_FILE MOTOR_LOG``. Each motor turn
is appended (and fsynced) to MOTOR_LOG, as a physical portion would leave the machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from device.config import DeviceConfig, PaperConfig
from device.decide import QrScan
from device.hardware import build_hardware
from device.runtime import Dispenser
from device.state import RemoteHolder, open_store


class LoggingMotor:
    """Appends one line per portion to a file, durably."""

    def __init__(self, path: Path, tokens: list[str]) -> None:
        self.path = path
        self.current = ""

    def feed(self, cm: int) -> None:
        with self.path.open("a", encoding="ascii") as handle:
            handle.write(self.current + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        pass


def main(state_dir: str, tokens_file: str, motor_log: str) -> None:
    # A roll long enough that paper never runs out during the test.
    config = DeviceConfig(state_dir=state_dir, paper=PaperConfig(roll_cm=10**9))
    tokens = Path(tokens_file).read_text(encoding="ascii").split()
    store = open_store(Path(state_dir))
    hardware = build_hardware(config)
    motor = LoggingMotor(Path(motor_log), tokens)
    hardware.motor = motor
    dispenser = Dispenser(config=config, store=store, remote=RemoteHolder(store), hardware=hardware)
    print("ready", flush=True)
    for index, token in enumerate(tokens):
        motor.current = str(index)
        dispenser.attempt(QrScan(token))
    print("done", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
