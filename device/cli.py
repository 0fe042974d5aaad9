"""Command line: enroll, run, simulate, status, decode-image (and face-check when installed)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from device import __version__
from device.api import ApiError, DeviceApi, Offline
from device.config import ConfigError, DeviceConfig, load_config
from device.qr import ImageUnreadable, decode_image_file
from device.remote import RemoteConfigError
from device.state import NotEnrolled, enroll, open_store, read_key

EXIT_USAGE = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m device", description="fairroll dispenser")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--config",
        help="TOML config (default: $FAIRROLL_DEVICE_CONFIG or /etc/fairroll/dispenser.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True)

    enroll_cmd = commands.add_parser("enroll", help="enroll this device with the backend")
    enroll_cmd.add_argument(
        "--server", required=True, help="backend URL, e.g. https://paper.example.org"
    )
    enroll_cmd.add_argument("--code", required=True, help="one-time enrollment code")
    enroll_cmd.add_argument("--state-dir", help="override the config's state_dir")

    commands.add_parser("run", help="run the dispenser")

    status_cmd = commands.add_parser(
        "status", help="show enrollment, outbox and backend reachability"
    )
    status_cmd.add_argument("--state-dir", help="override the config's state_dir")

    decode = commands.add_parser("decode-image", help="print the QR payload found in an image file")
    decode.add_argument("files", nargs="+", metavar="FILE")

    sim = commands.add_parser(
        "simulate", help="enroll (when given a code) and run a simulated dispenser"
    )
    sim.add_argument("--server", required=True, help="backend URL")
    sim.add_argument("--code", help="enrollment code (needed the first time only)")
    sim.add_argument(
        "--state-dir", required=True, help="where the simulated dispenser keeps its state"
    )
    sim.add_argument("--port", type=int, default=8765, help="kiosk page port (default 8765)")
    sim.add_argument(
        "--camera",
        choices=("simulated", "webcam", "auto"),
        default="auto",
        help="auto: a webcam if one opens, with the simulated camera on top",
    )

    commands.add_parser(
        "face-check", help="on-device face check of image files (when face support is installed)"
    )
    return parser


def _config(path: str | None, state_dir: str | None = None) -> DeviceConfig:
    if path is None and state_dir is not None:
        return DeviceConfig(state_dir=state_dir)
    config = load_config(path)
    if state_dir is not None:
        from dataclasses import replace

        config = replace(config, state_dir=state_dir)
    return config


def cmd_enroll(args: argparse.Namespace) -> int:
    """Enroll with the backend and store the key."""
    config = _config(args.config, args.state_dir)
    remote = enroll(config.state_path, args.server, args.code, timeout=config.sync.timeout_seconds)
    print(f"Enrolled as dispenser {remote.dispenser_id} ({remote.site_name or 'no site name'}).")
    print(f"State kept in {config.state_path}. Start it with: python -m device run")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the dispenser with the configured hardware."""
    from device.app import build, run_forever

    running = build(_config(args.config))
    run_forever(running)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print local state and whether the backend answers."""
    config = _config(args.config, args.state_dir)
    store = open_store(config.state_path)
    try:
        server = store.get_setting("server_url")
        report = {
            "state_dir": str(config.state_path),
            "enrolled": bool(server),
            "dispenser_id": store.get_setting("dispenser_id"),
            "server": server,
            "pending_events": store.pending_count(),
            "rejected_events": store.rejected_count(),
            "counts": store.counts(),
            "last_dispense_at": (d.isoformat() if (d := store.last_dispense_at()) else None),
        }
        if server:
            report["backend"] = _reachability(server, config)
    finally:
        store.close()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def _reachability(server: str, config: DeviceConfig) -> str:
    try:
        DeviceApi(server, read_key(config.state_path), timeout=3).get_config(None)
    except NotEnrolled:
        return "no device key"
    except Offline as exc:
        return f"unreachable ({exc})"
    except ApiError as exc:
        return f"refused ({exc.code})"
    return "reachable"


def cmd_decode_image(args: argparse.Namespace) -> int:
    """Print the QR payloads in image files, or say that none was found."""
    found_all = True
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            print(f"{name}: no such file", file=sys.stderr)
            found_all = False
            continue
        try:
            payloads = decode_image_file(path)
        except ImageUnreadable as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            found_all = False
            continue
        if not payloads:
            print(f"{name}: no QR code found", file=sys.stderr)
            found_all = False
        for payload in payloads:
            print(payload if len(args.files) == 1 else f"{name}: {payload}")
    return 0 if found_all else EXIT_FAILED


def cmd_simulate(args: argparse.Namespace) -> int:
    """Enroll once, then run a simulated dispenser with its kiosk page."""
    from device.simulate import simulate

    return simulate(
        server=args.server,
        code=args.code,
        state_dir=Path(args.state_dir),
        port=args.port,
        camera=args.camera,
    )


def cmd_face_check(args: argparse.Namespace) -> int:
    """Hand over to the face package's own command line."""
    try:
        face_cli = importlib.import_module("device.face.cli")
    except ImportError:
        print("face support is not installed on this device", file=sys.stderr)
        return EXIT_FAILED
    return int(face_cli.main(list(args.args)) or 0)


COMMANDS = {
    "enroll": cmd_enroll,
    "run": cmd_run,
    "status": cmd_status,
    "decode-image": cmd_decode_image,
    "simulate": cmd_simulate,
    "face-check": cmd_face_check,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, turn known failures into clear messages."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["face-check"]:
        # The face package parses its own arguments, --help included.
        return cmd_face_check(argparse.Namespace(args=argv[1:]))
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotEnrolled as exc:
        print(f"{exc}: run python -m device enroll --server URL --code CODE", file=sys.stderr)
        return EXIT_USAGE
    except Offline as exc:
        print(f"cannot reach the backend: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ApiError as exc:
        print(f"the backend refused: {exc.message} ({exc.code})", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.Error as exc:
        print(f"the device's ledger cannot be used: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (RemoteConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
