"""The local TOML config: defaults, validation, clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.config import ConfigError, DeviceConfig, load_config, parse_config


def test_empty_config_gets_simulated_defaults() -> None:
    config = parse_config("")
    assert config == DeviceConfig()
    assert config.camera.type == "simulated"
    assert config.screen.host == "127.0.0.1"


def test_full_config_is_read() -> None:
    config = parse_config(
        """
        state_dir = "/srv/fairroll"
        [camera]
        type = "opencv"
        device = 1
        [motor]
        type = "gpio"
        pin = 23
        seconds_per_cm = 0.03
        [keypad]
        type = "gpio_matrix"
        rows = [5, 6, 13, 19]
        cols = [12, 16, 20]
        [scan]
        clock_skew_seconds = 45
        """
    )
    assert config.state_dir == "/srv/fairroll"
    assert config.camera.device == 1
    assert config.motor.pin == 23
    assert config.keypad.rows == [5, 6, 13, 19]
    assert config.scan.clock_skew_seconds == 45


def test_unknown_top_level_key_is_rejected_by_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown key stat_dir"):
        parse_config('stat_dir = "/x"')


def test_unknown_key_in_a_section_names_section_and_known_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown key camera\.fsp; known keys here: .*fps"):
        parse_config("[camera]\nfsp = 30")


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"motor\.type must be one of gpio, simulated"):
        parse_config('[motor]\ntype = "stepper"')


def test_wrong_type_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"screen\.port must be of type int, not str"):
        parse_config('[screen]\nport = "80"')


def test_boolean_is_not_an_integer() -> None:
    with pytest.raises(ConfigError, match=r"motor\.pin must be an integer"):
        parse_config("[motor]\npin = true")


def test_replay_camera_needs_a_path() -> None:
    with pytest.raises(ConfigError, match=r"camera\.path is required"):
        parse_config('[camera]\ntype = "replay"')


def test_matrix_keypad_must_match_its_labels() -> None:
    with pytest.raises(ConfigError, match=r"keypad\.rows x keypad\.cols"):
        parse_config('[keypad]\ntype = "gpio_matrix"\nrows = [1, 2]\ncols = [3, 4]')


def test_invalid_toml_says_so() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[camera\n")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no configuration file at .*nope\.toml"):
        load_config(tmp_path / "nope.toml")


def test_load_config_from_file(tmp_path: Path) -> None:
    path = tmp_path / "dispenser.toml"
    path.write_text(f'state_dir = "{tmp_path}"\n[screen]\nport = 9000\n', encoding="utf-8")
    config = load_config(path)
    assert config.state_path == tmp_path
    assert config.screen.port == 9000


def test_sample_config_shipped_for_deployment_is_valid() -> None:
    sample = Path(__file__).parents[2] / "device" / "deploy" / "dispenser.toml"
    config = parse_config(sample.read_text(encoding="utf-8"), source=str(sample))
    assert config.camera.type == "opencv"
    assert config.motor.type == "gpio"


def test_kiosk_page_is_never_served_beyond_this_machine() -> None:
    with pytest.raises(ConfigError, match=r"screen\.host must be a loopback address"):
        parse_config('[screen]\nhost = "0.0.0.0"')
