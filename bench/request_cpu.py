"""Benchmark: the backend's own CPU time per request, endpoint by endpoint, on PostgreSQL.

Usage:
    .venv/bin/python bench/request_cpu.py [--requests 1000] \\
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds a fleet of 1,000 dispensers in a fresh database on that server (dropped
afterwards; bench/city_setup.py, in its steady state: each dispenser's live-token slot
rows exist), then sends each kind of request of the city mix through the real app
in-process (Flask's test client, one thread) and prints the CPU time of this process per
request: routing, the app's work, SQLAlchemy and the driver, not PostgreSQL's own time
nor an HTTP server's. CPU time, unlike wall time, hardly moves when other work shares
the machine, so two versions of the backend can be compared on a busy one. Each kind
runs against different dispensers in turn, as a city's requests do. Last, one device key
lookup made through the ORM session and straight to the driver
(backend/services/direct.py), alternated.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-bench-"))

from sqlalchemy import text  # noqa: E402

from bench.city_setup import build_fleet, make_app, new_event  # noqa: E402
from tests.databases import fresh_database  # noqa: E402

DISPENSERS = 1_000
WARM_UP = 30


def main(argv: list[str] | None = None) -> int:
    """Measure and print CPU milliseconds per request for each kind of request."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database(args.database_url, "fairroll_city") as url,
    ):
        app = make_app(url, folder)
        fleet = build_fleet(app, DISPENSERS, sample=0, now=datetime.now(UTC))
        from backend.extensions import db

        with app.app_context():
            # This version's bench/city_setup.py makes them; an older one measured for a
            # comparison did not. Idempotent.
            db.session.execute(
                text(
                    "INSERT INTO live_token_slot (dispenser_id, slot) SELECT d.id, s"
                    " FROM dispenser AS d, generate_series(0, :cap - 1) AS s"
                    " ON CONFLICT DO NOTHING"
                ),
                {"cap": app.config["FAIRROLL_LIVE_TOKEN_CAP"]},
            )
            db.session.commit()
        client = app.test_client()
        keys = [key for key in fleet.keys if key]  # every dispenser: none enrolls over HTTP

        def auth(n: int) -> dict[str, str]:
            return {"Authorization": f"Bearer {keys[n % len(keys)]}"}

        def expect(answer: object, *statuses: int) -> None:
            status = answer.status_code  # type: ignore[attr-defined]
            assert status in statuses, (status, answer.get_data())  # type: ignore[attr-defined]

        def heartbeat(n: int) -> None:
            beat = {"paper_level": 70, "status": "ok"}
            expect(client.post("/api/v1/device/heartbeat", json=beat, headers=auth(n)), 200)

        etags: dict[int, str] = {}

        def config(n: int) -> None:
            index = n % len(keys)
            answer = client.get(
                "/api/v1/device/config",
                headers={**auth(index), "If-None-Match": etags.get(index, '"none"')},
            )
            expect(answer, 200, 304)
            etags[index] = answer.headers["ETag"]

        codes: list[tuple[int, str]] = []

        def token(n: int) -> None:
            index = n % len(keys)
            answer = client.post(f"/api/v1/dispensers/{fleet.public_ids[index]}/tokens", json={})
            expect(answer, 201)
            codes.append((index, answer.get_json()["code"]))

        def typed_code(_n: int) -> None:
            index, code = codes.pop(0)
            answer = client.post(
                "/api/v1/device/codes/verify", json={"code": code}, headers=auth(index)
            )
            expect(answer, 200)

        def events(n: int) -> None:
            moment = datetime.now(UTC).isoformat()
            batch = {"events": [new_event(n * 20 + k, moment) for k in range(20)]}
            expect(client.post("/api/v1/device/events", json=batch, headers=auth(n)), 200)

        kinds: list[tuple[str, Callable[[int], None]]] = [
            ("heartbeat", heartbeat),
            ("config poll", config),
            ("token issue", token),
            ("typed code", typed_code),
            ("event batch (20)", events),
        ]
        print(f"CPU per request, in-process, {DISPENSERS} dispensers, {args.requests} each:")
        for name, send in kinds:
            for n in range(WARM_UP):
                send(n)
            started_cpu, started = time.process_time(), time.perf_counter()
            for n in range(WARM_UP, WARM_UP + args.requests):
                send(n)
            cpu = (time.process_time() - started_cpu) / args.requests * 1000
            wall = (time.perf_counter() - started) / args.requests * 1000
            print(f"  {name:<18} {cpu:6.2f} ms CPU   {wall:6.2f} ms wall")
        _lookup_both_ways(app, keys, args.requests)
        with app.app_context():
            db.engine.dispose()
    return 0


def _lookup_both_ways(app: Any, keys: list[str], requests: int) -> None:
    """One device key lookup as a request makes it, through the ORM session (its
    connection in autocommit, the statement, the end of the session) and straight to the
    driver (backend/services/direct.py), alternated A B B A."""
    from backend.extensions import db
    from backend.services.devices import _DISPENSER_BY_KEY
    from backend.services.direct import rows
    from backend.services.secrets import sha256_hex

    hashes = [sha256_hex(key) for key in keys]

    def session(n: int) -> None:
        with app.app_context():
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            found = db.session.execute(
                _DISPENSER_BY_KEY.statement, {"key_hash": hashes[n % len(hashes)]}
            )
            assert found.first() is not None
            db.session.commit()

    def straight(n: int) -> None:
        with app.app_context():
            assert rows(db.session, _DISPENSER_BY_KEY, {"key_hash": hashes[n % len(hashes)]})

    print("One device key lookup, in-process, CPU per lookup:")
    ways = [("through the session", session), ("straight to the driver", straight)]
    for label, send in [*ways, *reversed(ways)]:
        for n in range(WARM_UP):
            send(n)
        started = time.process_time()
        for n in range(WARM_UP, WARM_UP + requests):
            send(n)
        cpu = (time.process_time() - started) / requests * 1000
        print(f"  {label:<24} {cpu:6.2f} ms CPU")


if __name__ == "__main__":
    raise SystemExit(main())
