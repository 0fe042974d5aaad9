"""Benchmark: what a shorter token buys on small, far-away codes (same printed size).

For each candidate token form (payload length, character set, error correction level)
draws the same kind of frames: the "small" condition set of device.synthetic, whose
code is 90-140 px wide on the sensor whatever its module count. A shorter payload needs
a smaller QR version, so the same width holds fewer, bigger modules. Prints, per form,
the QR version, modules across, pixels per module, and the decode rate of the fast read
alone and of the whole cascade (device.qr), and wrong payloads (must be 0).

    .venv/bin/python bench/qr_token_size.py [--frames 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Callable

import numpy as np
import segno

from device.qr import Trace, decode_all, to_gray
from device.synthetic import SMALL, camera_frame


def _base32(size: int) -> Callable[[np.random.Generator], str]:
    return lambda rng: base64.b32encode(rng.bytes(size)).decode("ascii").rstrip("=")


def _digits(size: int) -> Callable[[np.random.Generator], str]:
    width = len(str(2 ** (8 * size) - 1))
    return lambda rng: str(int.from_bytes(rng.bytes(size), "big")).zfill(width)


# label, payload maker, error correction level
FORMS: list[tuple[str, Callable[[np.random.Generator], str], str]] = [
    ("v1 signed: 95 B base32 (Ed25519)", _base32(95), "m"),
    ("63 B base32", _base32(63), "m"),
    ("47 B base32 (MAC-128, full header)", _base32(47), "m"),
    ("47 B base32, level L", _base32(47), "l"),
    ("v2 MAC-128: 41 B as 99 digits", _digits(41), "m"),
]


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print one line per token form."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"small set (code 90-140 px wide), {args.frames} frames per form, seed {args.seed}")
    header = ("token form", "ver", "mod", "px/mod", "fast", "cascade", "wrong")
    print("{:<36} {:>3} {:>4} {:>9} {:>7} {:>8} {:>5}".format(*header))
    for index, (label, make, level) in enumerate(FORMS):
        rng = np.random.default_rng([args.seed, index])
        fast = decoded = wrong = 0
        sample = make(rng)
        symbol = segno.make_qr(sample, error=level)
        modules = symbol.version * 4 + 17
        for _ in range(args.frames):
            payload = make(rng)
            gray = to_gray(camera_frame(payload, rng, conditions=SMALL, error=level))
            trace = Trace()
            payloads = decode_all(gray, trace=trace)
            fast += trace.winner == "fast"
            decoded += payload in payloads
            wrong += sum(p != payload for p in payloads)
        px = f"{90 / modules:.1f}-{140 / modules:.1f}"
        print(
            f"{label:<36} {symbol.version:>3} {modules:>4} {px:>9}"
            f" {fast / args.frames:>7.1%} {decoded / args.frames:>8.1%} {wrong:>5}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
