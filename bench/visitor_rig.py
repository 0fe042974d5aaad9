"""The visitor benchmarks' rig: the real app on an embedded SQLite database in a temporary
folder, served on loopback from a thread, for Debian's chromium as a phone (its settings:
tests/device/phone_rig.py)."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-bench-"))
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.services.sites import SitePolicy, create_dispenser, create_site  # noqa: E402


def visitor_app(*labels: str) -> tuple[Flask, list[str]]:
    """The app on a fresh embedded database: one site giving a portion a second (so every
    fresh phone gets paper) and a dispenser per label; their public ids."""
    folder = Path(os.environ["FAIRROLL_INSTANCE_PATH"])
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}"})
    with app.app_context():
        upgrade()
        now = datetime.now(UTC)
        site = create_site(db.session, "Bench Park", now=now, policy=SitePolicy(window_seconds=1))
        ids = [
            create_dispenser(db.session, site, now=now, label=label).public_id for label in labels
        ]
        db.session.commit()
    return app, ids


@contextmanager
def served(wsgi: Any) -> Iterator[str]:
    """Serve ``wsgi`` on a free loopback port from a thread; yield its origin."""
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
