"""Production gunicorn settings: `gunicorn --config python:backend.gunicorn_conf app:app`.

Threaded workers (a request waiting on PostgreSQL leaves the CPU to another), one worker
per core by default, and a worker class that stamps each request with the time it was
queued, so the app can shed requests that waited too long (backend/shedding.py).
Tunable through the environment: WEB_CONCURRENCY (workers), GUNICORN_THREADS,
FAIRROLL_BIND, GUNICORN_ACCESS_LOG=1 (the app already logs each request),
FAIRROLL_TRUST_REQUEST_START=1 (keep a proxy's own X-Request-Start).
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

bind = os.environ.get("FAIRROLL_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "backend.gunicorn_conf.QueueStampingWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Longer than the load balancer's idle timeout (60 s on an ALB), so the balancer closes first.
keepalive = 75
timeout = 30
graceful_timeout = 30
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG") == "1" else None
errorlog = "-"


def post_worker_init(worker: Any) -> None:
    """Once the worker has loaded the app: put every object it holds so far (modules, the
    app, SQLAlchemy's metadata: about 110,000) out of the garbage collector's reach. A
    full collection then no longer walks them: it took about 38 ms, a pause for every
    request of the worker, and a 99th percentile of its own."""
    gc.freeze()


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
