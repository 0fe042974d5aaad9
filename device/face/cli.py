"""`python -m device face-check IMAGE ...`: try face mode on still images.

(Also runs on its own as `python -m device.face.cli IMAGE ...`.)

Each image is the next visit, one second after the previous one, against a fresh
in-memory store, so a technician can check the camera position and lighting or
see that the same person is refused. It prints one JSON line per image and
writes nothing anywhere. The liveness check does not apply to a still picture.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import numpy as np

from device.face import availability, default_parts
from device.face.messages import headline
from device.face.pipeline import FaceParts, decide_face
from device.face.store import EmbeddingStore
from device.face.types import Frame, Outcome
from protocol.clock import utcnow

DEFAULT_WINDOW_SECONDS = 540


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m device face-check",
        description="Treat each still image as the next face-mode visit and print the "
        "decision as one JSON line per image. Writes nothing.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG photo")
    parser.add_argument(
        "--window-seconds",
        type=int,
        default=DEFAULT_WINDOW_SECONDS,
        help=f"the site's window (default {DEFAULT_WINDOW_SECONDS})",
    )
    return parser


def main(argv: list[str], out: TextIO | None = None) -> int:
    """Run face-check; 0 if every image was read, 1 if some were not, 2 on bad usage."""
    out = out if out is not None else sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse has already printed the usage error
        return int(stop.code or 0)
    if args.window_seconds <= 0:
        print("face-check: --window-seconds must be positive", file=sys.stderr)
        return 2
    state = availability()
    if not state.available:
        print(f"face-check: face mode is unavailable here: {state.reason}", file=sys.stderr)
        return 3
    return _check_all(args.images, args.window_seconds, default_parts(still_images=True), out)


def _check_all(images: list[str], window_seconds: int, parts: FaceParts, out: TextIO) -> int:
    store = EmbeddingStore(dimension=parts.embedder.dimension)
    start = utcnow()
    first_image_of: dict[int, str] = {}
    failed = False
    for index, name in enumerate(images):
        frame, error = _read(name)
        if frame is None:
            failed = True
            out.write(json.dumps({"image": name, "decision": "error", "error": error}) + "\n")
            continue
        now = start + timedelta(seconds=index)
        decision = decide_face([frame], store, parts, window_seconds, now)
        del frame
        line: dict[str, object] = {
            "image": name,
            "decision": decision.outcome.value,
            "reason": decision.reason.value,
            "message": " ".join(filter(None, (headline(decision.reason)[0], decision.message_en))),
            "liveness": "not applied to still images",
        }
        if decision.outcome is Outcome.DISPENSE and decision.entry_id is not None:
            first_image_of[decision.entry_id] = name
        if decision.outcome is Outcome.REFUSE and decision.entry_id is not None:
            line["same_person_as"] = first_image_of.get(decision.entry_id, "")
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    store.erase_all()
    return 1 if failed else 0


def _read(name: str) -> tuple[Frame | None, str]:
    """The image as a BGR frame, or None and why it could not be read."""
    import cv2  # the device extra; only needed here

    path = Path(name)
    if not path.is_file():
        return None, "no such file"
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None or frame.ndim != 3:
        return None, "not an image OpenCV can read (use JPEG or PNG)"
    return np.asarray(frame, dtype=np.uint8), ""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
