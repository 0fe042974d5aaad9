"""Benchmark: QR decode rate and time per camera frame, per named frame condition.

Generates 640x480 frames of phone screens showing real signed tokens under each of the
generator's named condition sets (device.synthetic.CONDITION_SETS: ordinary 140-250 px
codes, small 90-140 px codes at 2-3.5 px a module, motion blur 5-8 px, strong glare, and
busy scenes with no code), then for every frame runs what the dispenser does: decode
(device.qr's fast read and recovery cascade, each stage timed), verify the token, look it
up in the persistent spent-set (SQLite) and decide. Prints, per condition: decode rate,
wrong payloads, median/p95 time of readable frames, time of failing frames, time of
frames with no code, the time each cascade stage took and what it won, and whether a
15 fps camera loop keeps up.

    .venv/bin/python bench/device_decode.py [--frames 300] [--seed 1] [--sets small,blur]
        [--stages enlarge,deblur]   # an ablation: only these recovery stages
        [--code-px 65,100]          # other code sizes (65-100 px: 2.2-3.4 px a module)
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.decide import Dispense, QrScan, Situation, decide
from device.qr import RECOVERY_STAGES, Trace, decode_all
from device.remote import parse_remote_config
from device.store import Store
from device.synthetic import CONDITION_SETS, camera_frame
from protocol.ids import dispenser_id_to_bytes, new_dispenser_public_id
from protocol.token import TokenClaims, encode_token_key, key_id_for, sign_token

FRAME_MS_AT_15_FPS = 1000 / 15


def _token(key: Ed25519PrivateKey, dispenser_id: str, now: datetime) -> str:
    claims = TokenClaims(
        key_id=key_id_for(key.public_key()),
        token_id=secrets.token_bytes(12),
        dispenser_id=dispenser_id_to_bytes(dispenser_id),
        issued_at=now,
        expires_at=now + timedelta(seconds=120),
    )
    return sign_token(claims, key)


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _times(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: none"
    return (
        f"{label}: median {statistics.median(values):.2f} ms, p95 {_pct(values, 0.95):.2f} ms,"
        f" max {max(values):.2f} ms ({len(values)})"
    )


def _run_set(
    name: str, frames: list, situation: Situation, stages: tuple[str, ...]
) -> dict[str, object]:
    """Decode and decide every frame of one condition set; print and return its figures."""
    readable, failing, empty, decide_ms = [], [], [], []
    cpu: dict[str, list[float]] = defaultdict(list)  # process CPU time: less hurt by load
    decoded = wrong = 0
    stage_ms: dict[str, float] = defaultdict(float)
    stage_runs: dict[str, int] = defaultdict(int)
    stage_wins: dict[str, int] = defaultdict(int)
    for token, frame in frames:
        trace = Trace()
        cpu_started = time.process_time()
        payloads = decode_all(frame, trace=trace, stages=stages)  # BGR: grey is in "fast"
        total = trace.total_ms()
        for stage, ms in trace.stages:
            stage_ms[stage] += ms
            stage_runs[stage] += 1
        if trace.winner:
            stage_wins[trace.winner] += 1
        if token is None:
            empty.append(total)
            cpu["empty"].append((time.process_time() - cpu_started) * 1000)
            wrong += len(payloads)
            continue
        wrong += sum(payload != token for payload in payloads)
        if token in payloads:
            decoded += 1
            started = time.perf_counter()
            decision = decide(QrScan(token), situation)
            decide_ms.append((time.perf_counter() - started) * 1000)
            assert isinstance(decision, Dispense), decision
            readable.append(total + decide_ms[-1])
            cpu["readable"].append((time.process_time() - cpu_started) * 1000)
        else:
            failing.append(total)
            cpu["failing"].append((time.process_time() - cpu_started) * 1000)
    count = len(frames)
    all_ms = readable + failing + empty
    print(f"\n[{name}] {count} frames")
    if empty:
        print(f"  frames with a payload read (must be 0): {wrong}")
        print("  " + _times("no-code frames", empty))
        print("  " + _times("  same, CPU time", cpu["empty"]))
    else:
        print(f"  decoded: {decoded / count:.1%} ({decoded}/{count}); wrong payloads: {wrong}")
        print("  " + _times("readable frame -> decision", readable))
        print("  " + _times("  same, CPU time", cpu["readable"]))
        print("  " + _times("  of which verify + spent-set + decide", decide_ms))
        print("  " + _times("failing frames", failing))
        print("  " + _times("  same, CPU time", cpu["failing"]))
    over = sum(ms > FRAME_MS_AT_15_FPS for ms in all_ms)
    print(
        f"  15 fps loop: {over} frames over the {FRAME_MS_AT_15_FPS:.1f} ms frame time;"
        f" mean {statistics.fmean(all_ms):.2f} ms a frame ="
        f" {1000 / max(statistics.fmean(all_ms), 1e-3):.0f} frames/s of decoding capacity"
    )
    for stage in ("fast", "regions", *[s for s in stage_ms if s not in ("fast", "regions")]):
        if stage_runs[stage]:
            print(
                f"  stage {stage:<9} ran {stage_runs[stage]:>4}x, mean"
                f" {stage_ms[stage] / stage_runs[stage]:6.2f} ms, won {stage_wins[stage]}"
            )
    return {"decoded": decoded, "count": count, "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per condition set")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sets", default=",".join(CONDITION_SETS))
    parser.add_argument(
        "--stages",
        default=",".join(RECOVERY_STAGES),
        help="recovery stages to run, in cascade order ('' = the fast read only)",
    )
    parser.add_argument(
        "--code-px", default="", help="override the sets' code width range, e.g. 65,100"
    )
    args = parser.parse_args(argv)

    key = Ed25519PrivateKey.generate()
    dispenser_id = new_dispenser_public_id()
    now = datetime.now(UTC)
    remote = parse_remote_config(
        {
            "dispenser_id": dispenser_id,
            "token_keys": [encode_token_key(key, dispenser_id_to_bytes(dispenser_id))],
            "policy": {},
        }
    )
    stages = tuple(s for s in args.stages.split(",") if s)
    print(f"640x480 frames, {args.frames} per condition set, seed {args.seed}")
    print(f"recovery stages: {', '.join(stages) or 'none (fast read only)'}")
    wrong = 0
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.db")
        for _ in range(2000):  # a realistic spent-set to look tokens up in
            store.record_dispense(method="qr", now=now, token_ref=secrets.token_hex(32))
        situation = Situation(remote=remote, spent=store, now=now)
        for name in args.sets.split(","):
            conditions, has_code = CONDITION_SETS[name]
            if args.code_px and has_code:
                low, high = (float(v) for v in args.code_px.split(","))
                conditions = replace(conditions, code_px=(low, high))
            rng = np.random.default_rng([args.seed, len(name)])
            frames = []
            for _ in range(args.frames):
                token = _token(key, dispenser_id, now) if has_code else None
                frames.append((token, camera_frame(token, rng, conditions=conditions)))
            figures = _run_set(name, frames, situation, stages)
            wrong += int(figures["wrong"])  # type: ignore[call-overload]
        store.close()
    print(f"\nwrong payloads over all sets: {wrong}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
