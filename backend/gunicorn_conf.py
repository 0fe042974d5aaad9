"""Production gunicorn settings: `gunicorn --config python:backend.gunicorn_conf app:app`.

Threaded workers (a request waiting on PostgreSQL leaves the CPU to another), one worker
per core by default, and a worker class that stamps each request with the time it was
queued, so the app can shed requests that waited too long (backend/shedding.py).
Tunable through the environment: WEB_CONCURRENCY (workers), GUNICORN_THREADS,
GUNICORN_SWITCH_INTERVAL_MS (the interpreter's thread switch interval), FAIRROLL_BIND,
GUNICORN_ACCESS_LOG=1 (a line per request; the app logs only problems in production),
FAIRROLL_TRUST_REQUEST_START=1 (keep a proxy's own X-Request-Start).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

bind = os.environ.get("FAIRROLL_BIND", "0.0.0.0:8000")
# Limits on one statement and one lock wait, for the web server only (the jobs run without
# them, or set their own): a request stuck behind a lock (a migration's, a long job's)
# gets 503 + Retry-After long after its client gave up anyway, instead of holding a
# thread for as long as the lock lasts. gunicorn puts them in the environment the workers
# load the app in (backend/config.py reads them); a value already there wins (0: none).
WEB_DATABASE_LIMITS = {
    "FAIRROLL_DB_STATEMENT_TIMEOUT_MS": "10000",
    "FAIRROLL_DB_LOCK_TIMEOUT_MS": "3000",
}
raw_env = [f"{name}={os.environ.get(name, value)}" for name, value in WEB_DATABASE_LIMITS.items()]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "backend.gunicorn_conf.QueueStampingWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Longer than the idle timeout of every load balancer in front (the device one keeps a
# dispenser's connection 120 s, across its heartbeats; the public one 60 s), so a balancer
# always closes an idle connection first: one the server closed while the balancer sent
# a request on it would answer that request 502. tests/infra/test_device_path.py checks
# it against the infrastructure's template.
keepalive = 130
timeout = 30
graceful_timeout = 30
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG") == "1" else None
errorlog = "-"


# How long a thread may hold the interpreter before another may run (Python's default
# is 5 ms). A request waits for PostgreSQL several times; each time its answer arrives,
# the thread must get the interpreter back from whichever thread is computing. At the
# default, those waits made requests queue at twice the city's load while the server
# used half its CPU (docs/operations.md, "City scale"); at 0.5 ms they do not.
SWITCH_INTERVAL_SECONDS = float(os.environ.get("GUNICORN_SWITCH_INTERVAL_MS", "0.5")) / 1000
if not SWITCH_INTERVAL_SECONDS > 0:
    raise ValueError("GUNICORN_SWITCH_INTERVAL_MS must be a positive number of milliseconds")


def post_worker_init(worker: Any) -> None:
    """Once the worker has loaded the app: put every object it holds so far (modules, the
    app, SQLAlchemy's metadata: about 110,000) out of the garbage collector's reach (a
    full collection walked them all: about 38 ms, a pause for every request of the
    worker); and hand the interpreter between threads sooner."""
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


# Keep an X-Request-Start set by a proxy in front (nginx can); an AWS load balancer sets
# none, so by default any value a client sent is replaced by the worker's own.
TRUST_PROXY_REQUEST_START = os.environ.get("FAIRROLL_TRUST_REQUEST_START") == "1"


class QueueStampingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread worker that stamps each request with ``X-Request-Start`` when it is queued."""

    def enqueue_req(self, conn: Any) -> None:
        conn.fairroll_queued_at = time.time()
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        given = any(name == "X-REQUEST-START" for name, _ in req.headers)
        if not (given and TRUST_PROXY_REQUEST_START):
            req.headers = [(n, v) for n, v in req.headers if n != "X-REQUEST-START"]
            queued = getattr(conn, "fairroll_queued_at", None) or time.time()
            req.headers.append(("X-REQUEST-START", f"t={queued:.6f}"))
        return super().handle_request(req, conn)
