"""The real dispenser program (``python -m device ...``) with test-only instruments.

``test_privacy_dispenser.py`` starts this module instead of ``python -m device``; it
installs instruments and then runs ``device.cli.main`` with the same arguments, so
everything the dispenser does is its own code. The instruments report to the test
through an inherited pipe (``FAIRROLL_PROBE_FD``), never through a file:

- an audit hook: every path Python opens for writing, renames or removes, every
  SQLite database opened, every socket address connected or bound;
- every embedding the real embedder computes (so the test can search the files for
  exactly those vectors);
- how many faces the face component holds, several times a second.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

_FD = int(os.environ["FAIRROLL_PROBE_FD"])
_LOCK = threading.Lock()


def send(message: dict[str, Any]) -> None:
    """One JSON line to the test, through the pipe."""
    data = (json.dumps(message) + "\n").encode()
    with _LOCK:
        os.write(_FD, data)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) != 0
        )
        if writing and not isinstance(path, int):
            send({"write": os.fsdecode(path)})
    elif event in ("os.rename", "os.remove", "os.unlink", "shutil.move", "shutil.copyfile"):
        send({"write": os.fsdecode(args[0])})
    elif event == "sqlite3.connect":
        send({"sqlite": os.fsdecode(args[0])})
    elif event in ("socket.connect", "socket.bind"):
        send({"socket": event, "address": repr(args[1])})


def _instrument() -> None:
    from device import face
    from device.face import dlib_backend

    embed = dlib_backend.DlibResNetEmbedder.embed

    def reporting_embed(self: dlib_backend.DlibResNetEmbedder, aligned: Any) -> Any:
        vector = embed(self, aligned)
        send({"embedding": [float(value) for value in vector]})
        return vector

    dlib_backend.DlibResNetEmbedder.embed = reporting_embed  # type: ignore[method-assign]
    make_checker = face.make_checker

    def watched_checker() -> Any:
        checker = make_checker()

        def report() -> None:
            while True:
                send({"held": checker.held})
                time.sleep(0.2)

        threading.Thread(target=report, daemon=True).start()
        return checker

    face.make_checker = watched_checker  # type: ignore[assignment]


def main() -> int:
    """Install the instruments, then run the dispenser program with our arguments."""
    sys.addaudithook(_audit)
    send({"pid": os.getpid()})
    _instrument()
    from device.cli import main as device_main

    return device_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
