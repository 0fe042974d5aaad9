"""The city benchmark's extra measurements and its printed report."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import re
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyotp
from flask import Flask

from bench.city_http import Client, percentile
from bench.city_mix import device_headers
from bench.city_setup import Fleet, Tally

P99_GOAL_MS = 100.0


def print_step(result: Any, job_seconds: float | None) -> None:
    """One run's table: per endpoint rate, percentiles, errors; CPU; the fleet job."""
    stats = result.stats
    print(f"\n-- {result.scale:g}x the city mix, {result.seconds:.0f} s --")
    print(f"{'endpoint':<15}{'rate/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind in sorted(set(stats.latencies) | set(stats.errors)):
        values = stats.latencies.get(kind, [])
        errors = sum(stats.errors.get(kind, {}).values())
        print(
            f"{kind:<15}{len(values) / result.planned:>8.1f}{percentile(values, 0.5):>9.1f}"
            f"{percentile(values, 0.95):>9.1f}{percentile(values, 0.99):>9.1f}{errors:>8}"
        )
    for kind, reasons in sorted(stats.errors.items()):
        print(f"  errors of {kind}: {dict(reasons)}")
    if stats.skipped:
        print(f"  not sent (nothing to send yet, generator side): {dict(stats.skipped)}")
    if stats.expected_refusals:
        print(f"  spent codes refused as they must be: {dict(stats.expected_refusals)}")
    busy = result.seconds
    print(
        f"CPU: server {result.server_cpu / busy * 100:.0f} % of a core, PostgreSQL (all "
        f"processes on the machine) {result.postgres_cpu / busy * 100:.0f} %, generator "
        f"{result.generator_cpu / busy * 100:.0f} %; generator late by at most "
        f"{result.generator_late_ms:.0f} ms"
    )
    shown = f"{job_seconds:.2f} s" if job_seconds is not None else "FAILED"
    print(f"fleet job (flask fleet tick, run once during the step): {shown}")


# Each fleet's enrolled dispensers in one shuffled order, taken in turn from call to call.
# A dispenser keeps a token's live-token slot for the token's whole life, redeemed or not
# (backend/services/live_tokens.py): the same random picks repeated run after run drew
# more and more refusals (429, answered by the slower step-by-step path) and blurred
# every comparison made with several runs.
# (The fleet is kept with its order, so its id is never another fleet's.)
_TURNS: dict[int, tuple[Fleet, Iterator[int]]] = {}


def _dispensers_in_turn(fleet: Fleet) -> Iterator[int]:
    if id(fleet) not in _TURNS:
        enrolled = [i for i, key in enumerate(fleet.keys) if key]
        random.Random(7).shuffle(enrolled)  # noqa: S311 - load pattern
        _TURNS[id(fleet)] = (fleet, itertools.cycle(enrolled))
    return _TURNS[id(fleet)][1]


async def token_pair_rate(
    port: int,
    fleet: Fleet,
    seconds: float = 5.0,
    statuses: Counter[int] | None = None,
    clients: int = 32,
) -> float:
    """Requests a second of token issue + typed-code redeem pairs, ``clients`` back to back
    (answered 201 and 200; ``statuses`` counts every answer's status). 32 keep-alive
    clients spread over both gunicorn workers; with 8, all sometimes land on one of them
    and the rate halves from run to run."""
    statuses = Counter() if statuses is None else statuses
    client = Client(port)
    turns = _dispensers_in_turn(fleet)
    done = 0
    stop = asyncio.get_running_loop().time() + seconds

    async def worker() -> None:
        nonlocal done
        while asyncio.get_running_loop().time() < stop:
            index = next(turns)
            path = f"/api/v1/dispensers/{fleet.public_ids[index]}/tokens"
            issued = await client.request("POST", path, body={})
            statuses[issued.status] += 1
            if issued.status != 201:
                continue
            redeemed = await client.request(
                "POST",
                "/api/v1/device/codes/verify",
                body={"code": issued.json()["code"]},
                headers=device_headers(fleet, index),
            )
            statuses[redeemed.status] += 1
            done += 1 + (redeemed.status == 200)

    await asyncio.gather(*(worker() for _ in range(clients)))
    await client.close()
    return done / seconds


def fleet_view_ms(app: Flask) -> dict[str, float]:
    """Median answer time of the fleet view and the refill list (in-process, signed in)."""
    from backend.extensions import db
    from backend.services.operators import create_operator

    email = f"city-{secrets.token_hex(4)}@bench.example"
    with app.app_context():
        made = create_operator(
            db.session,
            email,
            "city bench password 1",
            role="admin",
            now=datetime.now(UTC),
            totp_enrolled=True,
        )
        db.session.commit()
        secret = made.operator.totp_secret
    client = app.test_client()

    def csrf(path: str) -> str:
        found = re.search(
            r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)
        )
        assert found, path
        return found.group(1)

    client.post(
        "/admin/login",
        data={
            "email": email,
            "password": "city bench password 1",
            "csrf_token": csrf("/admin/login"),
        },
    )
    client.post(
        "/admin/login/totp",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf("/admin/login/totp")},
    )
    times: dict[str, float] = {}
    for path in ("/admin/", "/admin/refills"):
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            answer = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
        times[path] = statistics.median(samples)
    return times


def exactly_once(figures: dict[str, Any]) -> list[str]:
    """The exactly-once checks; a list of failures (empty when all hold)."""
    baseline, after, ledger = figures["tally"]
    assert isinstance(baseline, Tally) and isinstance(after, Tally)
    problems = []
    events = after.events - baseline.events
    if events != len(ledger.events) or after.distinct_events != after.events:
        problems.append(f"events stored {events}, sent {len(ledger.events)}")
    if figures["unconfirmed_left"]:
        problems.append(f"{figures['unconfirmed_left']} batches never confirmed")
    tokens = after.tokens - baseline.tokens
    if not ledger.tokens_issued <= tokens <= ledger.tokens_issued + ledger.tokens_unconfirmed:
        problems.append(f"tokens stored {tokens}, issued {ledger.tokens_issued}")
    redeemed = after.redeemed_by_code - baseline.redeemed_by_code
    low, high = ledger.codes_redeemed, ledger.codes_redeemed + ledger.codes_unconfirmed
    if ledger.codes_redeemed_twice or not low <= redeemed <= high:
        problems.append(
            f"typed codes: {ledger.codes_redeemed_twice} redeemed twice, {redeemed} in the "
            f"database for {low} confirmed (+{ledger.codes_unconfirmed} unanswered)"
        )
    return problems


def _one_x(steps: list[tuple[Any, float | None]]) -> Any:
    """The step at 1x the mix, else the first one run (--scales without 1)."""
    return next((r for r, _ in steps if r.scale == 1.0), steps[0][0])


def _print_growth(growth: list[dict[str, Any]]) -> float | None:
    """Heartbeat p99 at 1x by fleet size; the spread of the sizes' means (max/min - 1),
    or None when only the main run was made."""
    by_size: dict[int, list[float]] = {}
    runs = growth[1:] or growth  # with --growth, the paired runs; else the main one
    for figures in runs:
        result = _one_x(figures["steps"])
        p99 = percentile(result.stats.latencies["heartbeat"], 0.99)
        by_size.setdefault(figures["dispensers"], []).append(p99)
    print("\nheartbeat p99 by fleet size (1x the same mix; with --growth each size twice):")
    means = {}
    for size in sorted(by_size):
        values = by_size[size]
        means[size] = sum(values) / len(values)
        listed = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {size:>6} dispensers: {listed} ms (mean {means[size]:.1f} ms)")
    if len(means) < 2:
        return None
    spread = max(means.values()) / min(means.values()) - 1
    print(f"  the largest mean is {spread * 100:.0f} % above the smallest (goal: within 25 %)")
    return spread


def print_summary(
    args: argparse.Namespace, main: dict[str, Any], growth: list[dict[str, Any]]
) -> int:
    """Statements, anchors, growth, exactly-once, and the one-line summary; exit status."""
    print("\nstatements per request (commit not counted):")
    for kind, count in main["statements"].items():
        print(f"  {kind:<15}{count}")
    raw1, raw4, trivial, pair = main["raw1"], main["raw4"], main["trivial"], main["token_pair"]
    print(
        f"\nanchors: raw PostgreSQL durable commits {raw1:.0f}/s on 1 connection, "
        f"{raw4:.0f}/s on 4; trivial Flask endpoint {trivial:.0f} req/s (same gunicorn settings)"
    )
    print(
        f"token issue + redeem: {pair:.0f} requests/s = {pair / raw1 * 100:.0f} % of the raw "
        f"commit rate on 1 connection"
    )
    views = main["fleet_view_ms"]
    if "fleet_view_before_job_ms" in main:
        before = main["fleet_view_before_job_ms"]["/admin/"]
        print(
            f"with the stored events: fleet view {before:.0f} ms before the fleet job's first "
            f"run ({main['first_job']} s), {views['/admin/']:.0f} ms after the run"
        )
    print(
        f"fleet view {views['/admin/']:.0f} ms, refill list {views['/admin/refills']:.0f} ms "
        f"(median, in-process, {main['dispensers']} dispensers)"
    )
    growth_spread = _print_growth(growth)
    problems = exactly_once(main)
    baseline, after, ledger = main["tally"]
    print(
        f"\nexactly once: {after.events - baseline.events} events stored for "
        f"{len(ledger.events)} sent (resent batches included), "
        f"{after.distinct_events - baseline.distinct_events} distinct; "
        f"typed codes redeemed {ledger.codes_redeemed}, the same token twice "
        f"{ledger.codes_redeemed_twice}, spent codes that matched a newer token "
        f"{ledger.code_reissued}" + ("" if not problems else f"; FAILED: {'; '.join(problems)}")
    )
    steps = main["steps"]
    one = _one_x(steps)
    held = [r.scale for r, _ in steps if r.holds()]
    jobs = [s for _, s in steps if s is not None]
    saturation = ""
    if args.steps or args.scales:
        best = f"{max(held):g}x" if held else "none"
        saturation = f", highest step holding p99 <= 100 ms with no errors: {best}"
        print(f"\nsteps holding p99 <= {P99_GOAL_MS:.0f} ms with no errors: {held or 'none'}")
    job = max(jobs, default=float("nan"))
    if growth_spread is not None:
        saturation += f", heartbeat p99 growth {growth_spread * 100:.0f} %"
    label = "city mix" if one.scale == 1.0 else f"city mix ({one.scale:g}x)"
    print(
        f"{label} at {main['dispensers']} dispensers: worst p99 {one.worst_p99():.0f} ms, "
        f"{one.stats.total_errors()} errors{saturation}, token issue + redeem "
        f"{pair / raw1 * 100:.0f} % of raw commits, fleet job {job:.2f} s, "
        f"fleet view {views['/admin/']:.0f} ms, exactly once: {'yes' if not problems else 'NO'}"
    )
    return 1 if problems else 0
