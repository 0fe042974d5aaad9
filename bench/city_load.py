"""Benchmark: a whole city's load on one backend (gunicorn, production settings, PostgreSQL).

Usage:
    .venv/bin/python bench/city_load.py --dispensers 10000 --seconds 60 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres [--steps] [--growth]
        [--scales 1,2] [--workers N] [--threads N]

Creates a fresh database on that server (dropped afterwards), builds N dispensers in N/10
sites through the services, serves the backend with gunicorn and backend/gunicorn_conf.py,
enrolls a sample through the real API, then drives the city mix (bench/city_mix.py) open
loop on loopback for --seconds. Prints per endpoint the achieved rate, p50/p95/p99 and
errors, server / PostgreSQL / generator CPU, statements per request, the anchors (raw
durable commits on 1 and 4 connections, a trivial Flask endpoint under the same gunicorn
settings, token issue + redeem throughput as a share of the raw commit rate), one run of
the fleet job, the fleet view's answer time, and the exactly-once counts. --steps runs
0.5x, 1x, 2x and 4x the mix (--scales picks others); --growth then runs 1x on fleets of
100, 1,000 and N, twice each in the order A B C C B A (so a steady drift of the machine
cancels), and compares the mean p99 of each size; --day-of-events first stores a past
day of dispense events (N/500 a second: 1.7 million at 10,000; --event-days 7 for the
week a city keeps, 12 million) and times the fleet view before and after the fleet
job's first run.
The last line is one summary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.city_http import Client, Stats, percentile, run_open_loop, schedule  # noqa: E402
from bench.city_mix import CityMix, Ledger, city_rates  # noqa: E402
from bench.city_report import fleet_view_ms, print_step, token_pair_rate  # noqa: E402
from bench.city_server import (  # noqa: E402
    Server,
    closed_loop_rate,
    postgres_cpu,
    raw_commit_rate,
)
from bench.city_setup import (  # noqa: E402
    SECRET_KEY,
    Fleet,
    add_day_of_events,
    build_fleet,
    make_app,
    statement_counts,
    tally,
)
from tests.databases import fresh_database  # noqa: E402

P99_GOAL_MS = 100.0


@dataclass
class StepResult:
    """One open-loop run of the mix at one scale."""

    scale: float
    stats: Stats
    planned: float
    seconds: float
    server_cpu: float
    postgres_cpu: float
    generator_cpu: float
    generator_late_ms: float

    def worst_p99(self) -> float:
        """The highest p99 of any endpoint."""
        return max((percentile(v, 0.99) for v in self.stats.latencies.values()), default=0.0)

    def holds(self) -> bool:
        """p99 within the goal on every endpoint, and no errors."""
        return self.worst_p99() <= P99_GOAL_MS and self.stats.total_errors() == 0


def server_env(database_url: str, key_dir: str, args: argparse.Namespace) -> dict[str, str]:
    """Production-like settings without AWS: file signing keys, log notifier, Prometheus."""
    env = {
        "FAIRROLL_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "FAIRROLL_SIGNING_KEY_DIR": key_dir,
        "FAIRROLL_INSTANCE_PATH": key_dir,
        "FAIRROLL_NOTIFIER": "log",
        "FAIRROLL_METRICS": "prometheus",
        # As behind the AWS load balancer: one proxy hop, so each request's address is the
        # one the generator names in X-Forwarded-For (each site's own router).
        "FAIRROLL_PROXY_HOPS": "1",
    }
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    return env


async def enroll_sample(client: Client, fleet: Fleet) -> None:
    """Enroll the sample through POST /api/v1/device/enroll, as a device does."""
    for index, code in fleet.enrollment_codes.items():
        answer = await client.request(
            "POST",
            "/api/v1/device/enroll",
            body={"enrollment_code": code, "software_version": "city"},
        )
        if answer.status != 201:
            raise RuntimeError(
                f"enrollment through the API failed: {answer.status} {answer.body!r}"
            )
        fleet.keys[index] = answer.json()["device_key"]


def fleet_tick(env: dict[str, str]) -> float | None:
    """Run the scheduled fleet job once, as its own process; its own timing in seconds."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "fleet", "tick"],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("seconds:"):
            return float(line.split()[1])
    print(f"fleet job failed: {done.stdout}{done.stderr}", file=sys.stderr)
    return None


async def run_step(
    server: Server, mix: CityMix, scale: float, args: argparse.Namespace, env: dict[str, str]
) -> tuple[StepResult, float | None]:
    """The mix at ``scale`` for --seconds, with the fleet job run once half-way."""
    stats = Stats()
    mix.stats = stats
    plan = schedule(city_rates(args.mix_dispensers or args.dispensers, scale), args.seconds)
    before = (server.cpu_seconds(), postgres_cpu(), time.process_time(), time.monotonic())
    job = asyncio.create_task(_tick_later(args.seconds / 2, env))
    late = await run_open_loop(plan, mix.fires())
    job_seconds = await job
    after = (server.cpu_seconds(), postgres_cpu(), time.process_time(), time.monotonic())
    await mix.client.close()
    result = StepResult(
        scale,
        stats,
        args.seconds,
        after[3] - before[3],
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2],
        late,
    )
    return result, job_seconds


async def _tick_later(delay: float, env: dict[str, str]) -> float | None:
    await asyncio.sleep(delay)
    return await asyncio.to_thread(fleet_tick, env)


async def city(
    args: argparse.Namespace, dispensers: int, *, anchors: bool, scales: tuple[float, ...]
) -> dict[str, Any]:
    """Set up a city of ``dispensers``, run the mix (and the anchors); return the figures."""
    figures: dict[str, Any] = {"dispensers": dispensers}
    with (
        tempfile.TemporaryDirectory(prefix="fairroll-city-") as folder,
        fresh_database(args.database_url, "fairroll_city") as url,
    ):
        app = make_app(url, folder)
        started = time.monotonic()
        sample = min(args.sample, dispensers // 2)
        fleet = build_fleet(app, dispensers, sample=sample, now=datetime.now(UTC))
        print(
            f"setup: {dispensers} dispensers in {max(1, dispensers // 10)} sites through the "
            f"services in {time.monotonic() - started:.1f} s"
        )
        if args.day_of_events:
            started = time.monotonic()
            stored = add_day_of_events(
                app, dispensers, per_second=dispensers / 500, days=args.event_days
            )
            print(
                f"stored {args.event_days} day(s) of events ({stored}) in "
                f"{time.monotonic() - started:.0f} s"
            )
            figures["fleet_view_before_job_ms"] = fleet_view_ms(app)
            started = time.monotonic()
            figures["first_job"] = fleet_tick(server_env(url, folder, args))
            print(f"first fleet job run (counts every hour): {figures['first_job']} s")
        figures["statements"] = statement_counts(app, fleet)
        baseline = tally(app)
        env = server_env(url, folder, args)
        with Server("app:app", env, Path(folder) / "server.log") as server:
            client = Client(server.port)
            await enroll_sample(client, fleet)
            print(f"enrolled {sample} dispensers through POST /api/v1/device/enroll")
            ledger = Ledger()
            mix = CityMix(client, fleet, Stats(), ledger)
            steps = []
            for scale in scales:
                result, job_seconds = await run_step(server, mix, scale, args, env)
                print_step(result, job_seconds)
                steps.append((result, job_seconds))
            figures["steps"] = steps
            figures["unconfirmed_left"] = await mix.retry_unconfirmed()
            await client.close()
            figures["tally"] = (baseline, tally(app), ledger)
            if anchors:
                figures["token_pair"] = await token_pair_rate(server.port, fleet)
            figures["fleet_view_ms"] = fleet_view_ms(app)
        if anchors:
            figures["raw1"] = raw_commit_rate(url, 1)
            figures["raw4"] = raw_commit_rate(url, 4)
            with Server("bench.city_trivial:app", env, Path(folder) / "trivial.log") as trivial:
                figures["trivial"] = await closed_loop_rate(trivial.port, "/healthz", 32, 3.0)
        with app.app_context():
            from backend.extensions import db

            db.engine.dispose()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if any exactly-once check failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispensers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database-url", required=True, help="an admin URL of the server")
    parser.add_argument("--steps", action="store_true", help="run 0.5x, 1x, 2x and 4x the mix")
    parser.add_argument(
        "--scales",
        type=lambda text: tuple(float(part) for part in text.split(",")),
        default=(),
        help="run these multiples of the mix instead, e.g. 1,2",
    )
    parser.add_argument(
        "--growth",
        action="store_true",
        help="1x on fleets of 100, 1,000 and N, twice each (A B C C B A)",
    )
    parser.add_argument(
        "--day-of-events",
        action="store_true",
        help="first store a past day of the city's dispense events (the charts' load)",
    )
    parser.add_argument(
        "--event-days",
        type=int,
        default=1,
        help="days of events --day-of-events stores (7: all a city keeps, the steady state)",
    )
    parser.add_argument("--mix-dispensers", type=int, default=0, help="the mix of a city this big")
    parser.add_argument("--sample", type=int, default=100, help="dispensers enrolled over HTTP")
    parser.add_argument("--workers", type=int, default=0, help="default: backend/gunicorn_conf.py")
    parser.add_argument("--threads", type=int, default=0, help="default: backend/gunicorn_conf.py")
    args = parser.parse_args(argv)
    from bench.city_report import print_summary

    scales = args.scales or ((0.5, 1.0, 2.0, 4.0) if args.steps else (1.0,))
    main_figures = asyncio.run(city(args, args.dispensers, anchors=True, scales=scales))
    growth = [main_figures]
    if args.growth:
        # Each size twice, in the order A B C C B A: a machine that slows down (or speeds
        # up) steadily during the runs then weighs on every size alike.
        sizes = [size for size in (100, 1_000) if size < args.dispensers] + [args.dispensers]
        for size in [*sizes, *reversed(sizes)]:
            growth.append(asyncio.run(city(args, size, anchors=False, scales=(1.0,))))
    return print_summary(args, main_figures, growth)


if __name__ == "__main__":
    raise SystemExit(main())
