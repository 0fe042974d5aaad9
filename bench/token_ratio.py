"""Benchmark: token issue + typed-code redeem throughput as a share of raw PostgreSQL
commits, alone (the one ratio of bench/city_load.py, without the city mix around it),
with two ceilings of the same server to read it against.

Usage:
    .venv/bin/python bench/token_ratio.py [--dispensers 10000] [--seconds 10] [--rounds 2] \\
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds a fleet in a fresh database on that server (dropped afterwards; 10,000 dispensers
have live-token slots enough for the rounds), serves the backend with gunicorn and the
production settings (bench/city_server.py), then runs --rounds rounds of four
measurements, in the order A B C D then D C B A, so a drift of the shared machine falls
on each: raw single-row durable commits on one connection from Python; pairs of token
issue + typed-code redeem from 32 clients back to back; and, from the same clients and
server, a request that touches no database (/healthz) and one that sends a single
`SELECT 1` (/readyz). Prints each round, the CPU each side spent per token request
(server, PostgreSQL, this process), the status of every answer, and the ratios of the
means. PY_SPY=path/to/py-spy records the server's workers into token_ratio.prof (raw
stacks) during the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.city_http import Client  # noqa: E402
from bench.city_load import enroll_sample, server_env  # noqa: E402
from bench.city_report import token_pair_rate  # noqa: E402
from bench.city_server import Server, closed_loop_rate, postgres_cpu, raw_commit_rate  # noqa: E402
from bench.city_setup import build_fleet, make_app  # noqa: E402
from tests.databases import fresh_database  # noqa: E402

STATUSES: Counter[int] = Counter()
# What each round measures: raw commits, token pairs, and two ceilings of the same
# server: a request that touches no database, and one that sends a single SELECT 1.
KINDS = ("raw", "pairs", "no database", "one SELECT")


def _profiler(server: Server, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy on the server's workers while the rounds run, if PY_SPY names it."""
    if not os.environ.get("PY_SPY"):
        return None
    master = server.process.pid  # type: ignore[union-attr]
    return subprocess.Popen(  # noqa: S603 - a profiler the caller named
        [
            *(os.environ["PY_SPY"], "record", "--subprocesses", "--nonblocking", "-r", "100"),
            *("-f", "raw", "-o", "token_ratio.prof", "-p", str(master), "-d", str(int(seconds))),
        ]
    )


async def measure_pairs(
    server: Server, fleet: object, seconds: float, statuses: Counter[int], clients: int = 32
) -> tuple[float, list[float]]:
    """Token pairs for ``seconds`` (bench/city_report.py), their rate, and the CPU ms each
    side spent per request: the server, PostgreSQL, this process."""
    before = (server.cpu_seconds(), postgres_cpu(), time.process_time())
    rate = await token_pair_rate(server.port, fleet, seconds, statuses, clients)  # type: ignore[arg-type]
    after = (server.cpu_seconds(), postgres_cpu(), time.process_time())
    requests = max(rate * seconds, 1.0)
    return rate, [(b - a) / requests * 1000 for a, b in zip(before, after, strict=True)]


def main(argv: list[str] | None = None) -> int:
    """Measure and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispensers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--clients", type=int, default=32, help="concurrent clients (bench/city_load.py: 32)"
    )
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="fairroll-ratio-") as folder,
        fresh_database(args.database_url, "fairroll_city") as url,
    ):
        app = make_app(url, folder)
        fleet = build_fleet(app, args.dispensers, sample=1, now=datetime.now(UTC))
        env = server_env(url, folder, argparse.Namespace(workers=0, threads=0))
        rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
        costs: list[list[float]] = []
        with Server("app:app", env, Path(folder) / "server.log") as server:

            async def enroll() -> None:
                client = Client(server.port)
                await enroll_sample(client, fleet)
                await client.close()

            asyncio.run(enroll())
            asyncio.run(token_pair_rate(server.port, fleet, 2.0))  # warm-up
            spy = _profiler(server, args.seconds * args.rounds * len(KINDS))
            for round_ in range(args.rounds):
                # A B C D, then D C B A: a steady drift of the machine falls on every kind.
                for kind in KINDS if round_ % 2 == 0 else KINDS[::-1]:
                    if kind == "raw":
                        rates[kind].append(raw_commit_rate(url, 1, args.seconds))
                    elif kind == "pairs":
                        rate, cost = asyncio.run(
                            measure_pairs(server, fleet, args.seconds, STATUSES, args.clients)
                        )
                        rates[kind].append(rate)
                        costs.append(cost)
                    else:
                        path = {"no database": "/healthz", "one SELECT": "/readyz"}[kind]
                        rates[kind].append(
                            asyncio.run(
                                closed_loop_rate(server.port, path, args.clients, args.seconds)
                            )
                        )
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(f"{kind} {rates[kind][-1]:,.0f}/s" for kind in KINDS)
                )
            if spy is not None:
                spy.wait()
        with app.app_context():
            from backend.extensions import db

            db.engine.dispose()
    server_ms, postgres_ms, client_ms = (sum(c[k] for c in costs) / len(costs) for k in range(3))
    print(
        f"CPU per token issue or redeem: server {server_ms:.2f} ms, PostgreSQL "
        f"{postgres_ms:.2f} ms, load generator {client_ms:.2f} ms"
    )
    print(
        "answers:", ", ".join(f"{count:,} x {status}" for status, count in sorted(STATUSES.items()))
    )
    mean = {kind: sum(values) / len(values) for kind, values in rates.items()}
    raw = mean["raw"]
    for kind in ("no database", "one SELECT"):
        print(
            f"ceiling, the same {args.clients} clients and server: a request with {kind} "
            f"({'/healthz' if kind == 'no database' else '/readyz'}) {mean[kind]:,.0f}/s "
            f"= {mean[kind] / raw:.0%} of raw commits"
        )
    print(
        f"token issue + redeem: {mean['pairs']:,.0f} requests/s = {mean['pairs'] / raw:.0%} of "
        f"raw commits ({raw:,.0f}/s, 1 connection); goal 50 %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
