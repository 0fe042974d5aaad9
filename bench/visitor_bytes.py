"""Measure what one phone visit sends and receives: the visitor figures of the cost model.

Usage:
    .venv/bin/python bench/visitor_bytes.py [SECONDS_ON_THE_TOKEN_SCREEN]   # default 20

Serves the real app (embedded SQLite, temp folder) on 127.0.0.1 and drives Debian's
chromium as a fresh phone (no cache, no cookies): open /d/<id>, tap "Get paper", stay on
the token screen for the given time (the design's ~20 s until the code is used, so about
ten status polls at 2 s). Then the same phone comes back: cookies expired, browser cache
kept. For each visit, prints every request that went on the wire with its status and its
bytes (headers and body, as Chromium counts them over HTTP/1.1), then the totals that
infra/workload.toml's [visitor] figures come from; static files the browser's cache
answered are counted apart (the server never sees them). TLS and HTTP/2 framing are not
included (the handshake is priced separately; HTTP/2 would compress repeated headers).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, Request, sync_playwright

from bench.visitor_rig import served, visitor_app
from tests.device.phone_rig import ARGS, CHROMIUM, PHONE


class HitCounter:
    """WSGI wrapper counting the requests that reach the server (cache hits never do)."""

    def __init__(self, app: Any) -> None:
        self.app, self.hits = app, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.hits += 1
        return self.app(environ, start_response)


def visit(page: Page, origin: str, public_id: str, seconds: float) -> list[Request]:
    """Open the dispenser page, tap "Get paper", stay on the token screen; the requests."""
    finished: list[Request] = []

    def record(request: Request) -> None:
        finished.append(request)

    page.on("requestfinished", record)
    page.goto(f"{origin}/d/{public_id}")
    page.get_by_role("button", name="Get paper").click()
    page.locator("svg.qr").wait_for()
    page.wait_for_timeout(seconds * 1000)
    page.remove_listener("requestfinished", record)
    return finished


def report(title: str, origin: str, finished: list[Request], hits: int) -> None:
    """Print each request that went on the wire, then the visit's totals."""
    print(title)
    sent = received = count = cached = 0
    for request in finished:
        sizes, response = request.sizes(), request.response()
        up = sizes["requestHeadersSize"] + sizes["requestBodySize"]
        down = sizes["responseHeadersSize"] + sizes["responseBodySize"]
        if down <= 0:
            cached += 1  # answered by the browser's cache: nothing sent, nothing billed
            continue
        sent, received, count = sent + up, received + down, count + 1
        status = response.status if response else "-"
        path = request.url.removeprefix(origin)
        print(f"{request.method:<5} {status!s:<4} {up:>6} B up {down:>6} B down  {path}")
    print(f"{cached} static files from the browser's cache; the server saw {hits} requests")
    print(f"{count} requests; {sent:,} B up ({sent / count / 1024:.2f} KB a request), ", end="")
    print(f"{received:,} B down ({received / count / 1024:.2f} KB a request)")


def main(seconds: float) -> None:
    """A fresh phone's visit, then the same phone back later; print both."""
    app, (public_id, other_id) = visitor_app("Lobby", "Gate")
    counter = HitCounter(app)
    with served(counter) as origin, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = context.new_page()
        first = visit(page, origin, public_id, seconds)
        report("First visit (a fresh phone):", origin, first, counter.hits)
        # Back another day, at another dispenser: cookies expired, browser cache kept.
        page.goto("about:blank")
        context.clear_cookies()
        counter.hits = 0
        again = visit(page, origin, other_id, seconds)
        print()
        report("Returning phone (cache kept, cookies expired):", origin, again, counter.hits)
        browser.close()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20)
