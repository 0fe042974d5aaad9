"""`python -m device face-check`: one JSON line per still, and nothing written."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from device.face import availability
from device.face.cli import main
from tests import face_photos

ROOT = Path(__file__).resolve().parents[3]


def write_images(folder: Path) -> list[str]:
    names = {
        "first.jpg": face_photos.variant("grace_hopper", "base"),
        "other.png": face_photos.variant("group_2", "base"),
        "again.jpg": face_photos.variant("grace_hopper", "rotate_right"),
        "far.jpg": face_photos.scene("group_2", face_px=50),
    }
    for name, frame in names.items():
        cv2.imwrite(str(folder / name), frame)
    (folder / "notes.jpg").write_text("not a picture")
    return [*names, "notes.jpg", "missing.jpg"]


def test_face_check_prints_a_decision_per_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    images = write_images(tmp_path)
    out = io.StringIO()
    assert main(images, out) == 1  # two inputs could not be read
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["decision"] for line in lines] == [
        "dispense",
        "dispense",
        "refuse",
        "no_face",
        "error",
        "error",
    ]
    assert lines[2]["same_person_as"] == "first.jpg"
    assert lines[3]["reason"] == "too_far"
    assert lines[4]["error"].startswith("not an image") and lines[5]["error"] == "no such file"
    assert all("liveness" in line for line in lines[:4])


def test_face_check_writes_nothing_anywhere(tmp_path: Path) -> None:
    work, home, tmp = tmp_path / "work", tmp_path / "home", tmp_path / "tmp"
    for folder in (work, home, tmp):
        folder.mkdir()
    images = write_images(work)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(  # noqa: S603  (fixed command: this interpreter and our own module)
        [sys.executable, "-m", "device.face.cli", *images[:4]],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4 and done.stderr == ""
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_bad_usage_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "IMAGE" in capsys.readouterr().err
    assert main(["--window-seconds", "0", "x.jpg"]) == 2
    assert "must be positive" in capsys.readouterr().err


def test_without_the_face_extra_face_mode_is_reported_unavailable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "dlib" else real(name, *a)
    )
    state = availability()
    assert not state.available and "dlib-bin" in state.reason
    assert main(["x.jpg"]) == 3
    assert "face mode is unavailable" in capsys.readouterr().err


def test_missing_model_files_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "face_recognition_models" else real(name, *a),
    )
    state = availability()
    assert not state.available and "face_recognition_models" in state.reason


def test_face_mode_is_available_here_and_import_loads_no_model() -> None:
    assert availability().available
    code = "import sys, device.face as f; f.availability(); print('dlib' in sys.modules)"
    done = subprocess.run(  # noqa: S603  (fixed command: this interpreter and our own module)
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False"
