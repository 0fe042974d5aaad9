"""Benchmark: token issue + typed-code redeem throughput as a share of raw PostgreSQL
commits, alone (the one ratio of bench/city_load.py, without the city mix around it).

Usage:
    .venv/bin/python bench/token_ratio.py [--dispensers 1000] [--seconds 10] [--rounds 2] \\
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds a fleet in a fresh database on that server (dropped afterwards), serves the
backend with gunicorn and the production settings (bench/city_server.py), then alternates
the two measurements --rounds times, A B B A ..., so a drift of the shared machine falls
on both: raw single-row durable commits on one connection from Python, and pairs of
token issue + typed-code redeem from 8 clients back to back. Prints each round, the CPU
each side spent per request (server, PostgreSQL, this process), and the ratio of the
means. PY_SPY=path/to/py-spy records the server's workers into token_ratio.prof (raw
stacks) while the pairs run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
from collections import Counter
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.city_http import Client  # noqa: E402
from bench.city_load import enroll_sample, server_env  # noqa: E402
from bench.city_report import token_pair_rate  # noqa: E402
from bench.city_server import Server, postgres_cpu, raw_commit_rate  # noqa: E402
from bench.city_setup import build_fleet, fresh_database, make_app  # noqa: E402


STATUSES: Counter[int] = Counter()


async def _pairs(server: Server, fleet: object, seconds: float) -> tuple[float, list[float]]:
    before = (server.cpu_seconds(), postgres_cpu(), time.process_time())
    rate = await token_pair_rate(server.port, fleet, seconds, STATUSES)  # type: ignore[arg-type]
    after = (server.cpu_seconds(), postgres_cpu(), time.process_time())
    requests = rate * seconds
    return rate, [(b - a) / requests * 1000 for a, b in zip(before, after, strict=True)]


def main(argv: list[str] | None = None) -> int:
    """Measure and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispensers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="fairroll-ratio-") as folder,
        fresh_database(args.database_url) as url,
    ):
        app = make_app(url, folder)
        fleet = build_fleet(app, args.dispensers, sample=1, now=datetime.now(UTC))
        env = server_env(url, folder, argparse.Namespace(workers=0, threads=0))
        raws: list[float] = []
        pairs: list[float] = []
        costs: list[list[float]] = []
        with Server("app:app", env, Path(folder) / "server.log") as server:

            async def enroll() -> None:
                client = Client(server.port)
                await enroll_sample(client, fleet)
                await client.close()

            asyncio.run(enroll())
            asyncio.run(token_pair_rate(server.port, fleet, 2.0))  # warm-up
            spy = None
            if os.environ.get("PY_SPY"):
                master = server.process.pid  # type: ignore[union-attr]
                spy = subprocess.Popen(  # noqa: S603 - a profiler the caller named
                    [
                        os.environ["PY_SPY"],
                        "record",
                        "--subprocesses",
                        "--nonblocking",
                        "-r",
                        "100",
                        "-f",
                        "raw",
                        "-o",
                        "token_ratio.prof",
                        "-p",
                        str(master),
                        "-d",
                        str(int(args.seconds * args.rounds * 2)),
                    ],
                )
            for round_ in range(args.rounds):
                order = ("raw", "pairs") if round_ % 2 == 0 else ("pairs", "raw")
                for kind in order:
                    if kind == "raw":
                        raws.append(raw_commit_rate(url, 1, args.seconds))
                    else:
                        rate, cost = asyncio.run(_pairs(server, fleet, args.seconds))
                        pairs.append(rate)
                        costs.append(cost)
                print(
                    f"round {round_ + 1}: raw commits {raws[-1]:,.0f}/s (1 connection), "
                    f"token issue + redeem {pairs[-1]:,.0f} requests/s"
                )
            if spy is not None:
                spy.wait()
        with app.app_context():
            from backend.extensions import db

            db.engine.dispose()
    server_ms, postgres_ms, client_ms = (sum(c[k] for c in costs) / len(costs) for k in range(3))
    print(
        f"CPU per request: server {server_ms:.2f} ms, PostgreSQL {postgres_ms:.2f} ms, "
        f"load generator {client_ms:.2f} ms"
    )
    print("answers:", ", ".join(f"{count:,} × {status}" for status, count in sorted(STATUSES.items())))
    raw, pair = sum(raws) / len(raws), sum(pairs) / len(pairs)
    print(
        f"token issue + redeem: {pair:,.0f} requests/s = {pair / raw:.0%} of raw commits "
        f"({raw:,.0f}/s, 1 connection); goal 50 %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
