"""Browser test fixtures: the app served on 127.0.0.1 from a thread, axe-core, screenshots.

The browser itself is the session's shared ``browser`` fixture (tests/browser.py): Debian's
chromium driven by Playwright, which never downloads a browser. Tests needing it, or
axe-core from node_modules, skip saying why (fail where CI requires them: tests/require.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import make_server

from backend import create_app
from tests.conftest import app_config
from tests.require import unavailable
from tests.visitor.phone import AXE, ROOT, SCREENSHOTS


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """An app on its own SQLite file, committing for real (the browser is another client)."""
    folder = tmp_path_factory.mktemp("live")
    app = create_app(app_config(f"sqlite:///{folder / 'fairroll.db'}", folder / "keys"))
    app.config["TESTING"] = False  # serve as in production: errors become pages
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def live_url(live_app: Flask) -> Iterator[str]:
    """The live app served on 127.0.0.1 at an ephemeral port, from a thread."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser build, installed from npm by `make test`."""
    if not AXE.exists():
        unavailable("AXE", f"{AXE.relative_to(ROOT)} is missing: run `npm ci` (make test does)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tests leave a screenshot of every page state (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
