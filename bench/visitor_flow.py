"""Benchmark: the visitor's phone flow in headless Chromium, from scan to a QR on screen.

Usage:
    .venv/bin/python bench/visitor_flow.py [RUNS]          # default 20 runs

Serves the real app (embedded SQLite, temp folder) on 127.0.0.1 from a thread and drives
Debian's chromium (/usr/bin/chromium, or FAIRROLL_CHROMIUM) as a 390x844 phone. Each run
is a fresh phone without cookies at a dispenser of its own (one dispenser would refuse
the eleventh live token, and any within its minimum interval): open /d/<id> as a scan of
the sticker does, tap "Get
paper", wait until the QR code is drawn. Prints median / p95 for the page load, for the tap
to QR, and for both together (the system's share of scan-to-paper; the person's own
reaction time and the dispenser's camera come on top), and how many screenshots decoded.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np
import zxingcpp
from playwright.sync_api import sync_playwright

from bench.visitor_rig import served, visitor_app
from tests.device.phone_rig import ARGS, CHROMIUM, PHONE


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _report(name: str, samples: list[float]) -> None:
    median = statistics.median(samples) * 1000
    p95 = _percentile(samples, 0.95) * 1000
    print(f"{name:<22} median {median:7.1f} ms   p95 {p95:7.1f} ms")


def main(runs: int) -> None:
    """Run the flow ``runs`` times and print the figures."""
    # Each run a new visitor at a dispenser of its own: one dispenser would soon refuse
    # them (its minimum interval between portions and its cap of live tokens).
    app, public_ids = visitor_app(*(f"Stall {n + 1}" for n in range(runs)))
    loads, taps, totals, decoded = [], [], [], 0
    with served(app) as origin, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for public_id in public_ids:
            context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = context.new_page()
            start = time.perf_counter()
            page.goto(f"{origin}/d/{public_id}")
            loaded = time.perf_counter()
            page.get_by_role("button", name="Get paper").click()
            page.locator("svg.qr").wait_for()
            shown = time.perf_counter()
            image = cv2.imdecode(np.frombuffer(page.screenshot(), np.uint8), cv2.IMREAD_GRAYSCALE)
            decoded += bool(zxingcpp.read_barcodes(image))
            loads.append(loaded - start)
            taps.append(shown - loaded)
            totals.append(shown - start)
            context.close()
        browser.close()
    print(f"visitor flow in headless Chromium, {runs} fresh phones, embedded SQLite")
    _report("page load (scan)", loads)
    _report("tap -> QR on screen", taps)
    _report("scan -> QR on screen", totals)
    print(f"QR decoded from the screenshot: {decoded}/{runs}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
