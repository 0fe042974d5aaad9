"""The city benchmark's processes: gunicorn with the production settings, CPU readings
from /proc, and the anchors (raw PostgreSQL commits, a trivial Flask endpoint)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psycopg

from bench.city_http import Client

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn with backend/gunicorn_conf.py (the production settings) on loopback; or,
    for bench/server_choice.py only, granian with as many workers and threads."""

    def __init__(self, app: str, env: dict[str, str], log: Path, kind: str = "gunicorn") -> None:
        if kind not in ("gunicorn", "granian"):
            raise ValueError(f"no server called {kind!r}")
        self.kind = kind
        self.port = free_port()
        from backend import gunicorn_conf

        # granian's workers get the database limits gunicorn's raw_env gives its own.
        limits = gunicorn_conf.WEB_DATABASE_LIMITS if kind == "granian" else {}
        self.env = {
            **limits,
            **os.environ,
            **env,
            "PYTHONPATH": str(ROOT),
            "FAIRROLL_BIND": f"127.0.0.1:{self.port}",
        }
        self.log = log
        self.app = app
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        if self.kind == "gunicorn":
            return [
                *(sys.executable, "-m", "gunicorn", "--config", "python:backend.gunicorn_conf"),
                self.app,
            ]
        from backend import gunicorn_conf

        if self.app != "app:app":
            raise ValueError("granian serves only the backend (app:app) here")
        return [
            *(sys.executable, "-m", "granian", "--interface", "wsgi", "--no-ws"),
            *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
            *("--workers", self.env.get("WEB_CONCURRENCY", str(gunicorn_conf.workers))),
            *("--blocking-threads", self.env.get("GUNICORN_THREADS", str(gunicorn_conf.threads))),
            *("--runtime-threads", "1"),
            "bench.granian_app:app",  # the backend, set up as gunicorn's post_worker_init does
        ]

    def __enter__(self) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed command
                self._command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"{self.kind} did not answer; see {self.log}")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far."""
        assert self.process is not None
        return process_tree_cpu(self.process.pid)


def _stat(pid: int) -> tuple[int, float] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def process_tree_cpu(root: int) -> float:
    """User + system CPU seconds of ``root`` and its children (living ones)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        found = _stat(int(entry.name))
        if found and (int(entry.name) == root or found[0] == root):
            total += found[1]
    return total


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (shared: other users count too)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("postgres"):
            found = _stat(int(entry.name))
            total += found[1] if found else 0.0
    return total


def raw_commit_rate(database_url: str, connections: int, seconds: float = 3.0) -> float:
    """Single-row durable commits a second from Python (psycopg), on ``connections``."""
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS city_anchor (id bigserial PRIMARY KEY, v int)")
    counts = [0] * connections
    stop = time.monotonic() + seconds

    def work(slot: int) -> None:
        with psycopg.connect(dsn) as conn:
            while time.monotonic() < stop:
                conn.execute("INSERT INTO city_anchor (v) VALUES (%s)", (slot,))
                conn.commit()
                counts[slot] += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE city_anchor")
    return sum(counts) / seconds


async def closed_loop_rate(port: int, path: str, concurrency: int, seconds: float) -> float:
    """Requests a second answered 200 by ``concurrency`` clients sending back to back."""
    client = Client(port)
    done = 0
    stop = asyncio.get_running_loop().time() + seconds

    async def worker() -> None:
        nonlocal done
        while asyncio.get_running_loop().time() < stop:
            answer = await client.request("GET", path)
            done += answer.status == 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.close()
    return done / seconds
