"""An open-loop HTTP/1.1 load generator on asyncio streams (loopback only).

Requests go out on a fixed schedule whether or not earlier ones have answered, so a slow
server cannot slow the generator down and hide its queue: each latency is measured from
the moment the request was due, not from when it was sent. Keep-alive connections are
reused; a new one is opened when all are busy.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 10.0  # a device gives up after this long
MAX_CONNECTIONS = 600
_IDS = itertools.count()


@dataclass
class Answer:
    """A response: status, lower-case headers, body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class Client:
    """Keep-alive connections to one loopback server."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
    ) -> Answer:
        """Send one request and read its answer (raises on timeout or a broken connection)."""
        data = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        request_id = f"city{next(_IDS):012d}"
        lines.append(f"X-Request-Id: {request_id}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            if self.open >= MAX_CONNECTIONS:
                raise ConnectionError("generator connection limit reached")
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.open += 1
        try:
            writer.write(raw)
            answer = await asyncio.wait_for(_read(reader), timeout)
        except BaseException:
            self.open -= 1
            writer.close()
            raise
        echoed = answer.headers.get("x-request-id")
        if echoed is not None and echoed != request_id:
            self.open -= 1
            writer.close()
            raise ConnectionError(f"answer to another request ({echoed}, not {request_id})")
        if answer.headers.get("connection", "").lower() == "close":
            self.open -= 1
            writer.close()
        else:
            self.idle.append((reader, writer))
        return answer

    async def close(self) -> None:
        """Close every idle connection."""
        for _, writer in self.idle:
            writer.close()
        self.open -= len(self.idle)
        self.idle.clear()


async def _read(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return Answer(int(status_line.split(" ", 2)[1]), headers, body)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Stats:
    """Latencies (ms, from the due time) and outcomes per kind of request."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    expected_refusals: Counter[str] = field(default_factory=Counter)
    shed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def ok(self, kind: str, ms: float) -> None:
        """A request answered as designed."""
        self.latencies[kind].append(ms)

    def error(self, kind: str, reason: str) -> None:
        """A request that failed (timeout, broken connection, an unexpected status)."""
        self.errors[kind][reason] += 1

    def total_errors(self) -> int:
        """Every error of every kind."""
        return sum(sum(c.values()) for c in self.errors.values())


# A request: given its due time, it sends, checks and records, returning nothing.
Fire = Callable[[float], Awaitable[None]]


def schedule(rates: dict[str, float], seconds: float) -> list[tuple[float, str]]:
    """Evenly spaced due times for each kind at its rate, kinds out of phase, in time order."""
    plan: list[tuple[float, str]] = []
    for number, (kind, rate) in enumerate(sorted(rates.items())):
        if rate <= 0:
            continue
        step = 1.0 / rate
        phase = step * (number + 1) / (len(rates) + 1)
        count = int(seconds * rate)
        plan += [(phase + k * step, kind) for k in range(count)]
    plan.sort()
    return plan


async def run_open_loop(
    plan: list[tuple[float, str]], fire: dict[str, Fire], *, grace: float = TIMEOUT + 2
) -> float:
    """Start each request of ``plan`` at its due time; wait for all; return the lateness
    of the generator itself (the worst delay between a due time and the actual start, ms)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    tasks: set[asyncio.Task[None]] = set()
    worst_late = 0.0
    for offset, kind in plan:
        due = start + offset
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            worst_late = max(worst_late, -delay * 1000)
        task = asyncio.create_task(fire[kind](due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=grace)
    for task in list(tasks):
        task.cancel()
    return worst_late
