"""Benchmark: token issue + typed-code redeem under the production server (gunicorn, its
threaded worker) and under granian (an HTTP server written in Rust), alternated: how much
of a request's cost is the server's own.

Usage:
    .venv/bin/pip install -e '.[bench]'    # granian: only this benchmark uses it
    .venv/bin/python bench/server_choice.py [--dispensers 10000] [--seconds 5] [--rounds 2] \\
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds a fleet in a fresh database on that server (dropped afterwards), then runs
--rounds rounds; each measures raw single-row durable commits on one connection, and the
pairs of bench/token_ratio.py (32 clients back to back) under each server in turn,
gunicorn then granian, then granian then gunicorn, so a drift of the shared machine falls
on both. Each server starts afresh for its turn, with the production settings' workers and
threads (WEB_CONCURRENCY, GUNICORN_THREADS) and what gunicorn's post_worker_init does
(bench/granian_app.py). Prints each turn, then per server the mean rate, its share of raw
commits and the CPU each side spent per request (server, PostgreSQL, this process).

Only gunicorn is the production server: it stamps each request with the time it was
queued, which load shedding needs (backend/shedding.py); granian passes no such time to
the app (docs/operations.md, "The server's own cost").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.city_http import Client  # noqa: E402
from bench.city_load import enroll_sample, server_env  # noqa: E402
from bench.city_report import token_pair_rate  # noqa: E402
from bench.city_server import Server, raw_commit_rate  # noqa: E402
from bench.city_setup import build_fleet, make_app  # noqa: E402
from bench.token_ratio import measure_pairs  # noqa: E402
from tests.databases import fresh_database  # noqa: E402

SERVERS = ("gunicorn", "granian")


def _turn(
    kind: str, url: str, folder: str, fleet: object, seconds: float, enroll: bool
) -> tuple[float, list[float], Counter[int]]:
    """Start ``kind``, warm it up, measure the pairs; the rate and CPU ms per request."""
    env = server_env(url, folder, argparse.Namespace(workers=0, threads=0))
    statuses: Counter[int] = Counter()
    with Server("app:app", env, Path(folder) / f"{kind}.log", kind=kind) as server:
        if enroll:

            async def enroll_all() -> None:
                client = Client(server.port)
                await enroll_sample(client, fleet)  # type: ignore[arg-type]
                await client.close()

            asyncio.run(enroll_all())
        asyncio.run(token_pair_rate(server.port, fleet, 2.0))  # type: ignore[arg-type]
        rate, costs = asyncio.run(measure_pairs(server, fleet, seconds, statuses))
    return rate, costs, statuses


def main(argv: list[str] | None = None) -> int:
    """Measure and print both servers' rates and costs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispensers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    try:
        import granian  # noqa: F401
    except ImportError:
        print("granian is not installed: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2
    rates: dict[str, list[float]] = {kind: [] for kind in SERVERS}
    costs: dict[str, list[list[float]]] = {kind: [] for kind in SERVERS}
    statuses: dict[str, Counter[int]] = {kind: Counter() for kind in SERVERS}
    raw: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="fairroll-servers-") as folder,
        fresh_database(args.database_url, "fairroll_city") as url,
    ):
        app = make_app(url, folder)
        fleet = build_fleet(app, args.dispensers, sample=1, now=datetime.now(UTC))
        for round_ in range(args.rounds):
            raw.append(raw_commit_rate(url, 1, args.seconds))
            line = [f"raw {raw[-1]:,.0f}/s"]
            for kind in SERVERS if round_ % 2 == 0 else SERVERS[::-1]:
                enroll = round_ == 0 and not any(rates.values())
                rate, cost, answers = _turn(kind, url, folder, fleet, args.seconds, enroll)
                rates[kind].append(rate)
                costs[kind].append(cost)
                statuses[kind].update(answers)
                line.append(f"{kind} {rate:,.0f}/s (server {cost[0]:.2f} ms a request)")
            print(f"round {round_ + 1}: " + ", ".join(line), flush=True)
        with app.app_context():
            from backend.extensions import db

            db.engine.dispose()
    raw_mean = sum(raw) / len(raw)
    for kind in SERVERS:
        mean = sum(rates[kind]) / len(rates[kind])
        server_ms, postgres_ms, client_ms = (
            sum(c[k] for c in costs[kind]) / len(costs[kind]) for k in range(3)
        )
        answers = ", ".join(f"{n:,} x {status}" for status, n in sorted(statuses[kind].items()))
        print(
            f"{kind}: token issue + redeem {mean:,.0f} requests/s = {mean / raw_mean:.0%} of raw "
            f"commits ({raw_mean:,.0f}/s, 1 connection); CPU per request: server "
            f"{server_ms:.2f} ms, PostgreSQL {postgres_ms:.2f} ms, load generator "
            f"{client_ms:.2f} ms; answers: {answers}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
