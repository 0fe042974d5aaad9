"""A live backend on a temporary SQLite database, and a page in Debian's headless Chromium.

The browser is the session's shared one (tests/browser.py, registered by the root
conftest): Playwright only drives Debian's chromium and downloads nothing; where
/usr/bin/chromium is missing (`make test` installs it), these tests are skipped with
that reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

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


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh page; any request leaving this machine fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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
