"""The command line: decode-image for technicians, status, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.cli import main
from device.synthetic import camera_frame
from tests.device.helpers import make_token


def test_decode_image_prints_the_payload(
    tmp_path: Path, capsys, signing_key, dispenser_id, now
) -> None:
    token = make_token(signing_key, dispenser_id, now)
    path = tmp_path / "phone.png"
    cv2.imwrite(str(path), camera_frame(token, np.random.default_rng(5)))
    assert main(["decode-image", str(path)]) == 0
    assert capsys.readouterr().out.strip() == token


def test_decode_image_says_when_nothing_is_found(tmp_path: Path, capsys) -> None:
    path = tmp_path / "wall.jpg"
    cv2.imwrite(str(path), camera_frame(None, np.random.default_rng(6)))
    assert main(["decode-image", str(path)]) == 1
    assert "no QR code found" in capsys.readouterr().err


def test_decode_image_rejects_a_non_image(tmp_path: Path, capsys) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello", encoding="utf-8")
    assert main(["decode-image", str(path), str(tmp_path / "missing.png")]) == 1
    err = capsys.readouterr().err
    assert "is not an image" in err
    assert "missing.png: no such file" in err


def test_status_of_a_fresh_state_dir(tmp_path: Path, capsys) -> None:
    assert main(["status", "--state-dir", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["enrolled"] is False
    assert report["pending_events"] == 0


def test_run_without_enrollment_explains_what_to_do(tmp_path: Path, capsys) -> None:
    config = tmp_path / "dispenser.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[camera]\ntype = "none"\n', encoding="utf-8")
    assert main(["--config", str(config), "run"]) == 2
    assert "python -m device enroll" in capsys.readouterr().err


def test_bad_config_is_one_clear_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "dispenser.toml"
    config.write_text("[camera]\ntipe = 'opencv'\n", encoding="utf-8")
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error:") and "unknown key camera.tipe" in err


def test_enroll_against_nothing_says_the_backend_is_unreachable(tmp_path: Path, capsys) -> None:
    from tests.device.backend_process import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code = main(
        ["enroll", "--server", url, "--code", "ABCD-EFGH-JKLM", "--state-dir", str(tmp_path)]
    )
    assert code == 1
    assert "cannot reach the backend" in capsys.readouterr().err


def test_enroll_needs_an_http_url(tmp_path: Path, capsys) -> None:
    code = main(["enroll", "--server", "ftp://x", "--code", "X", "--state-dir", str(tmp_path)])
    assert code == 1
    assert "http://" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--version"], ["decode-image", "--help"]])
def test_help_and_version_exit_cleanly(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0


def test_busy_kiosk_port_is_one_clear_line(tmp_path: Path, capsys) -> None:
    import socket

    from device.state import write_key

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "dispenser.toml"
        config.write_text(
            f'state_dir = "{tmp_path}"\n[camera]\ntype = "none"\n[screen]\nport = {port}\n',
            encoding="utf-8",
        )
        write_key(tmp_path, "k" * 40)
        assert main(["--config", str(config), "run"]) == 1
    err = capsys.readouterr().err
    assert f"cannot serve the kiosk page on 127.0.0.1:{port}" in err


def test_face_check_hands_every_argument_to_the_face_package(monkeypatch, capsys) -> None:
    import sys
    import types

    received: list[list[str]] = []
    face_cli = types.ModuleType("device.face.cli")
    face_cli.main = lambda argv: received.append(argv) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "device.face.cli", face_cli)
    assert main(["face-check", "--help", "photo.jpg"]) == 0
    assert received == [["--help", "photo.jpg"]]


def test_face_check_without_face_support_says_so(monkeypatch, capsys) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "device.face.cli", None)  # import fails
    assert main(["face-check", "photo.jpg"]) == 1
    assert "face support is not installed" in capsys.readouterr().err
