"""Measure what one phone visit sends and receives: the visitor figures of the cost model.

Usage:
    .venv/bin/python bench/visitor_bytes.py [SECONDS_ON_THE_TOKEN_SCREEN]   # default 20

Serves the real app (embedded SQLite, temp folder) on 127.0.0.1 and drives Debian's
chromium as a fresh phone (no cache, no cookies): open /d/<id>, tap "Get paper", stay on
the token screen for the given time (the design's ~20 s until the code is used, so about
ten status polls at 2 s). Prints each request with its status and its bytes on the wire
(headers and body, as Chromium counts them), then the totals that infra/workload.toml's
[visitor] figures come from. TLS and HTTP/2 framing are not included (the handshake is
priced separately).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-bench-"))
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from flask_migrate import upgrade  # noqa: E402
from playwright.sync_api import Request, sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.services.sites import SitePolicy, create_dispenser, create_site  # noqa: E402

CHROMIUM = os.environ.get("FAIRROLL_CHROMIUM", "/usr/bin/chromium")


def main(seconds: float) -> None:
    """One fresh phone's visit; print every request and the totals."""
    folder = Path(os.environ["FAIRROLL_INSTANCE_PATH"])
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}"})
    with app.app_context():
        upgrade()
        now = datetime.now(UTC)
        site = create_site(db.session, "Bench Park", now=now, policy=SitePolicy(window_seconds=1))
        public_id = create_dispenser(db.session, site, now=now, label="Lobby").public_id
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    finished: list[Request] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        page = context.new_page()
        page.on("requestfinished", lambda request: finished.append(request))
        page.goto(f"{origin}/d/{public_id}")
        page.get_by_role("button", name="Get paper").click()
        page.locator("svg.qr").wait_for()
        page.wait_for_timeout(seconds * 1000)
        sent = received = 0
        for request in finished:
            sizes, response = request.sizes(), request.response()
            up = sizes["requestHeadersSize"] + sizes["requestBodySize"]
            down = sizes["responseHeadersSize"] + sizes["responseBodySize"]
            sent, received = sent + up, received + down
            status = response.status if response else "-"
            path = request.url.removeprefix(origin)
            print(f"{request.method:<5} {status!s:<4} {up:>6} B up {down:>6} B down  {path}")
        browser.close()
    server.shutdown()
    count = len(finished)
    print(f"{count} requests; {sent:,} B up ({sent / count / 1024:.2f} KB a request), ", end="")
    print(f"{received:,} B down ({received / count / 1024:.2f} KB a request)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20)
