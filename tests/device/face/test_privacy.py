"""Privacy, tested: no face data in any file or event, and nothing outlives its window.

A real dispenser process runs face mode end to end (dlib on real photos from a
replay camera). Then every file it created or changed is scanned for images and
for the embeddings it computed, its events are checked against an allowlist,
and its store is shown empty after the window and after a restart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device.face.pipeline import FaceParts
from device.face.service import FaceMode, FacePolicy
from device.face.types import Outcome
from tests import face_photos

ROOT = Path(__file__).resolve().parents[3]
RUNNER = Path(__file__).with_name("privacy_run.py")
ALLOWED_EVENT = {"kind": {"dispense", "refuse"}, "method": {"face"}}
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"GIF8", b"RIFF", b"P6\n")


def run_device(root: Path, phase: str) -> tuple[dict[str, object], list[str]]:
    """Run the dispenser's face flow in a fresh process; its summary and native writes."""
    state, home, tmp, cwd = (root / name for name in ("state", "home", "tmp", "cwd"))
    for folder in (state, home, tmp, cwd):
        folder.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, str(RUNNER), str(state), phase]
    trace = root.parent / f"{root.name}-{phase}.strace"
    if shutil.which("strace"):
        # Native code (dlib, OpenCV) bypasses Python's audit hooks; strace does not.
        command = [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=openat,creat,rename",
            "-o",
            str(trace),
            *command,
        ]
    # The command is fixed: strace (when present), this interpreter and our runner.
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)  # noqa: S603
    assert done.returncode == 0, done.stderr[-2000:]
    native = native_writes(trace) if trace.exists() else []
    return json.loads(done.stdout.strip().splitlines()[-1]), native


def native_writes(trace: Path) -> list[str]:
    """Paths the process opened for writing, from an strace log."""
    pattern = re.compile(r'(?:openat\(AT_FDCWD, |creat\()"([^"]+)", ([A-Z_|]+)')
    paths = []
    for line in trace.read_text().splitlines():
        found = pattern.search(line)
        if found and re.search(r"O_WRONLY|O_RDWR|O_CREAT", found.group(2)) and "= -1" not in line:
            paths.append(found.group(1))
    return paths


def reference_secrets(parts: FaceParts) -> tuple[list[bytes], list[np.ndarray]]:
    """Byte patterns of every face chip and embedding the flow can have computed."""
    patterns: list[bytes] = []
    vectors: list[np.ndarray] = []
    bursts = [
        face_photos.turning_burst("group_4", seed=0),
        face_photos.turning_burst("group_4", seed=9),
        face_photos.turning_burst("astronaut", seed=0),
        face_photos.print_burst("group_3", seed=3),
    ]
    for burst in bursts:
        for frame in burst:
            rgb = np.ascontiguousarray(frame[:, :, ::-1])
            patterns.append(frame[200:202, 300:340].tobytes())  # raw pixels of the face area
            boxes = parts.detector.detect(rgb)
            if not boxes:
                continue
            face = parts.embedder.align(rgb, max(boxes, key=lambda b: b.area))
            patterns.append(face.chip[75, 40:110].tobytes())
            vector = parts.embedder.embed(face)
            vectors.append(vector)
            patterns += [vector[:4].tobytes(), vector[:4].astype(np.float64).tobytes()]
    return patterns, vectors


def looks_like_float_array(data: bytes) -> bool:
    """True if `data` holds 32+ consecutive small non-zero float32s (an embedding dump)."""
    for offset in range(4):
        usable = (len(data) - offset) // 4 * 4
        values = np.frombuffer(data[offset : offset + usable], dtype="<f4")
        plausible = np.isfinite(values) & (np.abs(values) > 1e-4) & (np.abs(values) < 1.0)
        run = 0
        for ok in plausible:
            run = run + 1 if ok else 0
            if run >= 32:
                return True
    return False


def assert_no_face_data(path: Path, patterns: list[bytes], vectors: list[np.ndarray]) -> None:
    data = path.read_bytes()
    assert not data.startswith(IMAGE_MAGIC), f"{path.name} is an image"
    for pattern in patterns:
        assert pattern not in data, f"{path.name} contains face pixels or an embedding"
    text = data.decode("utf-8", errors="replace")
    assert not re.search(r"(-?\d+\.\d{3,}[,\s]+){16}", text), f"{path.name} holds a number list"
    for vector in vectors:
        for value in vector[:8]:
            assert f"{value:.5f}" not in text, f"{path.name} holds an embedding value"
    assert not looks_like_float_array(data), f"{path.name} holds a float array"


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], list[str]]:
    root = tmp_path_factory.mktemp("device")
    summary, native = run_device(root, "flow")
    return root, summary, native


def test_flow_dispenses_refuses_and_rejects_the_print(
    flow: tuple[Path, dict[str, object], list[str]],
) -> None:
    _, summary, _ = flow
    assert summary["outcomes"] == ["dispense", "refuse", "dispense", "no_face"]


def test_no_file_holds_images_or_embeddings(
    flow: tuple[Path, dict[str, object], list[str]], live_parts: FaceParts
) -> None:
    root, summary, native = flow
    patterns, vectors = reference_secrets(live_parts)
    files = [path for path in root.rglob("*") if path.is_file()]
    assert {path.name for path in files} == {"device.log", "crash.log", "outbox.jsonl"}
    for path in files:
        assert_no_face_data(path, patterns, vectors)
    # Every write, from Python or native code, went to the state directory.
    state = str(root / "state")
    written = [str(p) for p in summary["writes"]] + native  # type: ignore[union-attr]
    stray = [p for p in written if not p.startswith(state) and not p.startswith("/dev/")]
    assert stray == []
    assert any(p.endswith("outbox.jsonl") for p in summary["writes"])  # type: ignore[union-attr]
    if shutil.which("strace"):
        assert any(p.endswith("outbox.jsonl") for p in native)


def test_scanner_would_catch_a_leak(tmp_path: Path, live_parts: FaceParts) -> None:
    """The scan above is not vacuous: a dumped chip, embedding or list is caught."""
    patterns, vectors = reference_secrets(live_parts)
    leaks = {
        "raw.bin": vectors[0].tobytes(),
        "list.log": "face " + ", ".join(f"{v:.6f}" for v in vectors[0]),
        "chip.raw": b"x" + patterns[1] + b"y",
    }
    for name, content in leaks.items():
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        with pytest.raises(AssertionError):
            assert_no_face_data(path, patterns, vectors)


def test_events_carry_only_kind_and_method_and_no_socket_is_used(
    flow: tuple[Path, dict[str, object], list[str]],
) -> None:
    root, summary, _ = flow
    lines = (root / "state" / "outbox.jsonl").read_bytes().splitlines()
    events = [json.loads(line) for line in lines]
    assert events == [
        {"kind": "dispense", "method": "face"},
        {"kind": "refuse", "method": "face"},
        {"kind": "dispense", "method": "face"},
    ]
    for event in events:
        assert set(event) <= set(ALLOWED_EVENT)
        assert all(event[key] in ALLOWED_EVENT[key] for key in event)
    assert summary["sockets"] == []


def test_store_is_empty_after_the_window_and_after_a_restart(
    flow: tuple[Path, dict[str, object], list[str]],
) -> None:
    root, summary, _ = flow
    assert summary["held_at_start"] == 0
    assert summary["held_after_flow"] == 2
    assert summary["held_after_window"] == 0
    # A restarted device holds nothing and so serves the same face again.
    restarted, _ = run_device(root, "restart")
    assert restarted["held_at_start"] == 0
    assert restarted["outcomes"] == ["dispense"]


def test_turning_face_mode_off_erases_every_face(still_parts: FaceParts) -> None:
    mode = FaceMode(still_parts, FacePolicy(allowed=True, window_seconds=540))
    from .conftest import NOW

    for person in ("astronaut", "grace_hopper"):
        assert (
            mode.scan([face_photos.variant(person, "base")], NOW, True).outcome is Outcome.DISPENSE
        )
    assert mode.held == 2
    mode.set_policy(FacePolicy(allowed=False, window_seconds=540))
    assert mode.held == 0
    assert not mode._store._vectors.any()


def test_face_mode_turns_off_core_dumps(still_parts: FaceParts) -> None:
    import resource

    FaceMode(still_parts, FacePolicy(allowed=True, window_seconds=540))
    assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)


def test_camera_frames_are_overwritten_once_processed(live_parts: FaceParts) -> None:
    from .conftest import NOW

    handed_out: list[np.ndarray] = []
    scene = face_photos.turning_burst("group_6", seed=2)

    def read() -> np.ndarray | None:
        if len(handed_out) == len(scene):
            return None
        handed_out.append(scene[len(handed_out)].copy())
        return handed_out[-1]

    mode = FaceMode(live_parts, FacePolicy(allowed=True, window_seconds=540))
    assert mode.scan(read, NOW, consented=True).outcome is Outcome.DISPENSE
    assert handed_out and all(not frame.any() for frame in handed_out)


class RecordingEmbedder:
    """The real embedder, keeping a reference to each face it aligns (to inspect)."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.dimension = real.dimension  # type: ignore[attr-defined]
        self.threshold = real.threshold  # type: ignore[attr-defined]
        self.aligned: list[object] = []

    def align(self, image: np.ndarray, box: object) -> object:
        face = self.real.align(image, box)  # type: ignore[attr-defined]
        self.aligned.append(face)
        return face

    def embed(self, face: object) -> np.ndarray:
        return self.real.embed(face)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("broken", [False, True])
def test_face_cut_outs_are_zeroed_after_the_decision_or_an_error(
    still_parts: FaceParts, broken: bool
) -> None:
    from device.face.pipeline import FaceParts as Parts
    from device.face.pipeline import FrameError, decide_face
    from device.face.store import EmbeddingStore

    from .conftest import NOW

    recorder = RecordingEmbedder(still_parts.embedder)
    parts = Parts(still_parts.detector, recorder, liveness_after(2))  # type: ignore[arg-type]
    frames: list[object] = [face_photos.variant("group_3", "base")] * 2
    if broken:
        frames.append(np.zeros((4, 4), np.uint8))  # visited second: first and last go first
        with pytest.raises(FrameError):
            decide_face(frames, EmbeddingStore(), parts, 540, NOW)  # type: ignore[arg-type]
    else:
        decide_face(frames, EmbeddingStore(), parts, 540, NOW)  # type: ignore[arg-type]
    assert recorder.aligned
    assert all(not face.chip.any() and not face.points.any() for face in recorder.aligned)  # type: ignore[attr-defined]


def liveness_after(count: int) -> object:
    from device.face.liveness import ParallaxLiveness

    return ParallaxLiveness(min_turn=0.0, min_frames=count)
