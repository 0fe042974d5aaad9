"""Benchmark: the visitor's phone flow in headless Chromium, from scan to a QR on screen.

Usage:
    .venv/bin/python bench/visitor_flow.py [RUNS]          # default 20 runs

Serves the real app (embedded SQLite, temp folder) on 127.0.0.1 from a thread and drives
Debian's chromium (/usr/bin/chromium, or FAIRROLL_CHROMIUM) as a 390x844 phone. Each run
is a fresh phone without cookies: open /d/<id> as a scan of the sticker does, tap "Get
paper", wait until the QR code is drawn. Prints median / p95 for the page load, for the tap
to QR, and for both together (the system's share of scan-to-paper; the person's own
reaction time and the dispenser's camera come on top), and how many screenshots decoded.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-bench-"))
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import zxingcpp  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.services.sites import SitePolicy, create_dispenser, create_site  # noqa: E402

CHROMIUM = os.environ.get("FAIRROLL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]  # fmt: skip


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _report(name: str, samples: list[float]) -> None:
    median = statistics.median(samples) * 1000
    p95 = _percentile(samples, 0.95) * 1000
    print(f"{name:<22} median {median:7.1f} ms   p95 {p95:7.1f} ms")


def main(runs: int) -> None:
    """Run the flow ``runs`` times and print the figures."""
    folder = Path(os.environ["FAIRROLL_INSTANCE_PATH"])
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}"})
    with app.app_context():
        upgrade()
        now = datetime.now(UTC)
        # One portion a second, so every fresh phone gets paper; each run is a new visitor.
        site = create_site(db.session, "Bench Park", now=now, policy=SitePolicy(window_seconds=1))
        public_id = create_dispenser(db.session, site, now=now, label="Lobby").public_id
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/d/{public_id}"
    loads, taps, totals, decoded = [], [], [], 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for _ in range(runs):
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url)
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
    server.shutdown()
    print(f"visitor flow in headless Chromium, {runs} fresh phones, embedded SQLite")
    _report("page load (scan)", loads)
    _report("tap -> QR on screen", taps)
    _report("scan -> QR on screen", totals)
    print(f"QR decoded from the screenshot: {decoded}/{runs}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
