"""A live backend on a temporary SQLite database, and a page in Debian's headless Chromium.

Playwright only drives Debian's chromium (tests/browser.py names it) and downloads
nothing; where /usr/bin/chromium is missing (`make test` installs it), these tests are
skipped with that reason.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import app_config

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "admin"


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app on its own SQLite file, schema made by the migrations, really committing."""
    from flask_migrate import upgrade

    from backend import create_app

    folder = tmp_path_factory.mktemp("browser")
    app = create_app(
        app_config(f"sqlite:///{folder / 'fairroll.db'}", folder / "keys", TESTING=False)
    )
    app.config["FAIRROLL_PUBLIC_URL"] = ""
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def base_url(live_app: Flask) -> Iterator[str]:
    """The live server's address (an ephemeral port on 127.0.0.1)."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def admin_browser() -> Iterator[Any]:
    """Headless Chromium, closed when the module ends.

    Playwright's sync API allows one running instance at a time, and other test folders
    start their own session-wide browser: this one must be gone before they begin.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); page tests need it")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(admin_browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh page; any request leaving this machine fails the test."""
    context = admin_browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith((base_url, "data:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    opened = context.new_page()
    yield opened
    context.close()
    assert outside == [], f"the page tried to reach other hosts: {outside}"


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/admin/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
