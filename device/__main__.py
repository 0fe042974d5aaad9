"""`python -m device <command>`: the dispenser program's command line."""

from __future__ import annotations

import sys

USAGE = "usage: python -m device face-check IMAGE [IMAGE ...]"


def main(argv: list[str]) -> int:
    """Dispatch to a subcommand."""
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "face-check":
        from device.face.cli import main as face_check

        return face_check(rest)
    print(f"unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
