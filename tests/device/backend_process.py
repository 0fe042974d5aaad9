"""The real backend, run as its own process on 127.0.0.1 with an ephemeral port and SQLite.

Used by the device's end-to-end tests: it can be stopped and started again on the same
port (the device keeps the URL), and operator commands run through its real CLI, invoked
in this process (an app built from the same settings the server reads from its
environment) instead of a new interpreter per command, which cost seconds each.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from backend import create_app
from backend.config import load_config
from backend.extensions import db
from tests.device.helpers import http

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BackendProcess:
    """One backend instance folder (SQLite, keys) and the server process serving it."""

    def __init__(self, instance: Path) -> None:
        self.instance = instance
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_HOST")},
            "FAIRROLL_INSTANCE_PATH": str(instance),
            "FAIRROLL_PUBLIC_URL": self.url,
            "PYTHONPATH": str(ROOT),
            # The decode test mints 100 tokens at one dispenser in seconds; the live-token
            # cap (bounded minting) has tests of its own.
            "FAIRROLL_LIVE_TOKEN_CAP": "1000",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.app = create_app(load_config(self.env, instance))
        self.cli("db", "upgrade")

    def cli(self, *args: str) -> str:
        """Run the CLI command `flask --app app ARGS` against this instance; return its output."""
        result = self.app.test_cli_runner().invoke(args=list(args))
        with self.app.app_context():
            db.engine.dispose()  # no SQLite connection stays open beside the server's
        if result.exit_code != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed: {result.output[-2000:]}")
        return result.output

    def create_dispenser(
        self, site: str, *flags: str, site_flags: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """A dispenser at ``site`` (created if needed): public id and enrollment code."""
        if site not in self.cli("sites", "list"):
            # These tests mint several tokens at one dispenser within seconds; the default
            # minimum interval (bounded minting) has tests of its own. Later flags win.
            self.cli("sites", "create", site, "--min-interval", "0", *site_flags)
        answer = self.cli("dispensers", "create", site, "--json", *flags)
        created: dict[str, Any] = json.loads(answer)
        return created

    def start(self) -> None:
        """Serve on the fixed port; wait until /healthz answers."""
        command = [
            sys.executable, "-m", "flask", "--app", "app", "run",
            "--host", "127.0.0.1", "--port", str(self.port), "--no-reload", "--no-debugger",
        ]  # fmt: skip
        log = (self.instance / "server.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed command
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http(self.url + "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the backend did not start: " + self.server_log()[-2000:])

    def stop(self) -> None:
        """Stop serving (the data stays)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def server_log(self) -> str:
        path = self.instance / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def issue_token(self, public_id: str, presence: str | None = None) -> dict[str, Any]:
        """What the visitor page gets: token text, typed code, expiry (a new visitor each time)."""
        request = json.dumps({"presence": presence} if presence else {}).encode()
        status, body = http(f"{self.url}/api/v1/dispensers/{public_id}/tokens", request)
        if status != 201:
            raise RuntimeError(f"token issuance failed: {status} {body!r}")
        issued: dict[str, Any] = json.loads(body)
        return issued

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Read the backend's SQLite database directly (to check what arrived)."""
        database = self.instance / "fairroll.db"
        with closing(sqlite3.connect(database)) as conn:
            return conn.execute(sql, params).fetchall()
