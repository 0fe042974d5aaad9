"""The dispenser's local TOML configuration: hardware back-ends, paths and timings.

Every section is a frozen dataclass; ``load_config`` builds them from TOML and rejects
unknown keys, wrong types and unknown back-end names with a message naming the key.
What the backend decides (policy, token keys) is not here: see ``device.remote``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_CONFIG_PATH = Path("/etc/fairroll/dispenser.toml")
CONFIG_ENV = "FAIRROLL_DEVICE_CONFIG"


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from: a real camera, recorded files, or a simulation."""

    type: str = "simulated"  # opencv | replay | simulated | none
    device: int = 0
    width: int = 640
    height: int = 480
    fps: int = 15
    path: str = ""  # replay: a video file, an image file or a folder of images
    loop: bool = True


@dataclass(frozen=True)
class MotorConfig:
    """The paper feed motor."""

    type: str = "simulated"  # gpio | simulated
    pin: int = 17
    seconds_per_cm: float = 0.02
    active_high: bool = True
    feed_sensor_pin: int = 0  # light barrier at the exit: no paper seen = jam; 0 = none


@dataclass(frozen=True)
class ButtonsConfig:
    """Physical push buttons beside the screen (the kiosk page has the same buttons)."""

    type: str = "none"  # gpio | none
    use_phone: int = 0  # GPIO pin numbers; 0 means the button is not fitted
    type_code: int = 0
    use_face: int = 0
    help: int = 0
    dispense: int = 0  # unrestricted dispensers: the "paper please" button


@dataclass(frozen=True)
class KeypadConfig:
    """Where typed codes come from."""

    type: str = "screen"  # screen (on-screen keypad of the kiosk page) | gpio_matrix
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    keys: str = "123456789*0#"  # row-major key labels of a matrix keypad


@dataclass(frozen=True)
class PaperConfig:
    """How the device knows how much paper is left."""

    type: str = "simulated"  # gpio | simulated
    low_pin: int = 0
    empty_pin: int = 0
    roll_cm: int = 3000  # simulated: length of a full roll


@dataclass(frozen=True)
class ScreenConfig:
    """The display: the kiosk web page, or plain log lines for a headless test bench."""

    type: str = "kiosk"  # kiosk | console
    host: str = "127.0.0.1"
    port: int = 8765
    result_seconds: float = 6.0  # how long an attempt's result stays on screen


@dataclass(frozen=True)
class ScanConfig:
    """QR decoding and token checks."""

    clock_skew_seconds: int = 30
    upscale_retry: bool = True  # run the recovery cascade (device.qr) when the fast read fails
    repeat_seconds: float = 8.0  # the same QR seen again within this time is ignored


@dataclass(frozen=True)
class SyncConfig:
    """Talking to the backend."""

    timeout_seconds: float = 5.0
    batch_size: int = 200
    retry_seconds: float = 15.0


@dataclass(frozen=True)
class DeviceConfig:
    """The whole local configuration."""

    state_dir: str = "/var/lib/fairroll"
    simulation: bool = False  # shows the simulated camera panel on the kiosk page
    camera: CameraConfig = field(default_factory=CameraConfig)
    motor: MotorConfig = field(default_factory=MotorConfig)
    buttons: ButtonsConfig = field(default_factory=ButtonsConfig)
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)

    @property
    def state_path(self) -> Path:
        """The state directory as a path."""
        return Path(self.state_dir)


# The allowed back-end names for each section's ``type`` key.
BACKENDS: dict[str, tuple[str, ...]] = {
    "camera": ("opencv", "replay", "simulated", "none"),
    "motor": ("gpio", "simulated"),
    "buttons": ("gpio", "none"),
    "keypad": ("screen", "gpio_matrix"),
    "paper": ("gpio", "simulated"),
    "screen": ("kiosk", "console"),
}

T = TypeVar("T")


def _check_value(value: Any, expected: Any, where: str) -> Any:
    """Return ``value`` if it fits the annotation ``expected``, else raise ConfigError."""
    origin = typing.get_origin(expected)
    if origin is list:
        (item_type,) = typing.get_args(expected)
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list")
        return [_check_value(item, item_type, f"{where}[{i}]") for i, item in enumerate(value)]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{where} must be an integer, not true/false")
    if not isinstance(value, expected):
        raise ConfigError(
            f"{where} must be of type {expected.__name__}, not {type(value).__name__}"
        )
    return value


def _build(cls: type[T], table: Any, where: str) -> T:
    """Build the dataclass ``cls`` from a TOML table, rejecting unknown keys."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where or 'the file'} must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]!s}; known keys here: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for name, raw in table.items():
        key = f"{where}.{name}" if where else name
        expected = hints[name]
        if dataclasses.is_dataclass(expected) and isinstance(expected, type):
            values[name] = _build(expected, raw, key)
        else:
            values[name] = _check_value(raw, expected, key)
    built = cls(**values)
    _check_backend(built, where)
    return built


def _check_backend(section: object, where: str) -> None:
    allowed = BACKENDS.get(where)
    kind = getattr(section, "type", None)
    if allowed is not None and kind not in allowed:
        raise ConfigError(f"{where}.type must be one of {', '.join(allowed)}, not {kind!r}")


def parse_config(text: str, *, source: str = "config") -> DeviceConfig:
    """Parse and validate TOML text into a DeviceConfig."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from exc
    try:
        config = _build(DeviceConfig, table, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    _check_ranges(config, source)
    return config


def _check_ranges(config: DeviceConfig, source: str) -> None:
    problems = []
    if not config.state_dir:
        problems.append("state_dir must not be empty")
    if config.screen.host not in ("127.0.0.1", "::1", "localhost"):
        # The kiosk page accepts button presses: it must never be reachable from outside.
        problems.append("screen.host must be a loopback address (127.0.0.1, ::1 or localhost)")
    if not 0 <= config.screen.port <= 65535:
        problems.append("screen.port must be between 0 and 65535")
    if config.camera.type == "replay" and not config.camera.path:
        problems.append("camera.path is required when camera.type is replay")
    if config.keypad.type == "gpio_matrix":
        rows, cols = config.keypad.rows, config.keypad.cols
        if not rows or not cols or len(rows) * len(cols) != len(config.keypad.keys):
            problems.append("keypad.rows x keypad.cols must match the number of keypad.keys")
    if config.motor.seconds_per_cm <= 0:
        problems.append("motor.seconds_per_cm must be positive")
    if not 1 <= config.sync.batch_size <= 500:
        problems.append("sync.batch_size must be between 1 and 500")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def load_config(path: Path | str | None = None) -> DeviceConfig:
    """Read the configuration from ``path``, $FAIRROLL_DEVICE_CONFIG or the default path."""
    chosen = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"no configuration file at {chosen} (pass --config PATH)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {chosen}: {exc}") from exc
    return parse_config(text, source=str(chosen))


def with_changes(config: DeviceConfig, **changes: Any) -> DeviceConfig:
    """Return a copy of ``config`` with top-level fields replaced (used by simulate)."""
    return dataclasses.replace(config, **changes)


__all__ = [
    "BACKENDS",
    "ButtonsConfig",
    "CameraConfig",
    "ConfigError",
    "DeviceConfig",
    "KeypadConfig",
    "MotorConfig",
    "PaperConfig",
    "ScanConfig",
    "ScreenConfig",
    "SyncConfig",
    "load_config",
    "parse_config",
    "with_changes",
]
