"""The city's requests, as dispensers and phones send them, for the open-loop generator.

Per second at 1x for a city of M dispensers: M/60 heartbeats (one a minute each), M/300
config polls (ETag, mostly 304), M/500 token issues, M/500 typed-code redemptions (of
codes just issued; one in ten repeats a spent code and must be refused), and M/2500
event uploads of 5 new dispense events plus M/10000 resent batches (idempotence).
At M = 10,000: 167, 33, 20, 20, 4 + 1 a second, 20 new events a second.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.city_http import Client, Fire, Stats
from bench.city_setup import Fleet, new_event

EVENTS_PER_BATCH = 5


def city_rates(mix_dispensers: int, scale: float) -> dict[str, float]:
    """Requests per second of each kind for a city of ``mix_dispensers`` at ``scale``."""
    m = mix_dispensers * scale
    return {
        "heartbeat": m / 60,
        "config": m / 300,
        "token": m / 500,
        "typed code": m / 500,
        "events": m / 2500,
        "events resent": m / 10000,
    }


@dataclass
class Ledger:
    """What the generator sent that must be found exactly once in the database."""

    events: set[tuple[int, str]] = field(default_factory=set)
    unconfirmed: list[tuple[int, list[dict[str, str]]]] = field(default_factory=list)
    acked: list[tuple[int, list[dict[str, str]]]] = field(default_factory=list)
    tokens_issued: int = 0
    tokens_unconfirmed: int = 0
    codes_redeemed: int = 0
    codes_unconfirmed: int = 0
    codes_redeemed_twice: int = 0
    code_reissued: int = 0


def device_headers(fleet: Fleet, index: int) -> dict[str, str]:
    """Dispenser ``index``'s headers: its key, and its site's network address (dispenser
    ``n`` is in site ``n % sites``; a site's dispensers share its router's address), passed
    as the load balancer passes it. The address is only a header: nothing is sent to it."""
    site = index % max(1, len(fleet.public_ids) // 10)
    return {
        "Authorization": f"Bearer {fleet.keys[index]}",
        "X-Forwarded-For": f"10.{site >> 8 & 255}.{site & 255}.1",
    }


class CityMix:
    """Simulated dispensers and phones: their keys, ETags, codes and outboxes."""

    def __init__(self, client: Client, fleet: Fleet, stats: Stats, ledger: Ledger) -> None:
        self.client = client
        self.fleet = fleet
        self.stats = stats
        self.ledger = ledger
        self.enrolled = [i for i, key in enumerate(fleet.keys) if key]
        self.etags: dict[int, str] = {}
        self.levels = {i: 100 for i in self.enrolled}
        self.codes: deque[tuple[int, str]] = deque()
        # (dispenser, code, token_ref) of codes redeemed, to type again (must be refused).
        self.spent: deque[tuple[int, str, str]] = deque(maxlen=200)
        self.redeemed_refs: set[str] = set()
        self.rng = random.Random(16)  # noqa: S311 - load pattern, not secrets
        self._beat = itertools.cycle(self.enrolled)
        self._poll = itertools.cycle(self.enrolled[::-1])
        self._counter = itertools.count()

    def _auth(self, index: int) -> dict[str, str]:
        """A device's headers: its key, and its site's network address (dispenser ``n`` is in
        site ``n % sites``; a site's dispensers share its router's address, as in a city),
        passed as the load balancer would. The address is only a header: nothing is sent
        to it."""
        return device_headers(self.fleet, index)

    async def _call(self, kind: str, due: float, expect: tuple[int, ...], **kwargs: Any) -> Any:
        """Send, time from the due moment, record; the answer if its status was expected."""
        loop = asyncio.get_running_loop()
        try:
            answer = await self.client.request(**kwargs)
        except TimeoutError:
            self.stats.error(kind, "timeout")
            return None
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as error:
            self.stats.error(kind, type(error).__name__)
            return None
        if answer.status == 503:
            self.stats.shed[kind] += 1
            self.stats.error(kind, "503 shed")
            return None
        if answer.status not in expect:
            self.stats.error(kind, f"status {answer.status}")
            return None
        self.stats.ok(kind, (loop.time() - due) * 1000)
        return answer

    async def heartbeat(self, due: float) -> None:
        """One dispenser's minute heartbeat (paper going down, refilled at 10 %)."""
        index = next(self._beat)
        level = self.levels[index] - self.rng.choice((0, 0, 1))
        self.levels[index] = 100 if level < 10 else level
        body = {"paper_level": self.levels[index], "status": "ok", "software_version": "city"}
        answer = await self._call(
            "heartbeat",
            due,
            (200,),
            method="POST",
            path="/api/v1/device/heartbeat",
            body=body,
            headers=self._auth(index),
        )
        if answer is not None:
            self.etags[index] = answer.json()["config_etag"]

    async def config(self, due: float) -> None:
        """A config poll with the ETag from the dispenser's last heartbeat."""
        index = next(self._poll)
        headers = self._auth(index)
        if index in self.etags:
            headers["If-None-Match"] = self.etags[index]
        kind = "config"
        await self._call(
            kind, due, (200, 304), method="GET", path="/api/v1/device/config", headers=headers
        )

    async def token(self, due: float) -> None:
        """A phone asks for a token at a random dispenser (a new visitor each time)."""
        index = self.rng.choice(self.enrolled)
        path = f"/api/v1/dispensers/{self.fleet.public_ids[index]}/tokens"
        answer = await self._call("token", due, (201,), method="POST", path=path, body={})
        if answer is None:
            self.ledger.tokens_unconfirmed += 1
            return
        self.ledger.tokens_issued += 1
        self.codes.append((index, answer.json()["code"]))

    async def typed_code(self, due: float) -> None:
        """A visitor types a code just issued; one in ten repeats a spent code (refused)."""
        repeat = bool(self.spent) and next(self._counter) % 10 == 9
        first_ref = ""
        if repeat:
            index, code, first_ref = self.rng.choice(list(self.spent))
        elif self.codes:
            index, code = self.codes.popleft()
        else:
            self.stats.skipped["typed code"] += 1  # no token answered yet: nothing to type
            return
        answer = await self._call(
            "typed code",
            due,
            (200, 422, 429) if repeat else (200,),
            method="POST",
            path="/api/v1/device/codes/verify",
            body={"code": code},
            headers=self._auth(index),
        )
        if answer is None:
            if not repeat:
                self.ledger.codes_unconfirmed += 1
            return
        ref = answer.json().get("token_ref", "") if answer.status == 200 else ""
        if repeat and not ref:
            self.stats.expected_refusals["typed code"] += 1
            return
        if ref in self.redeemed_refs:
            self.ledger.codes_redeemed_twice += 1  # the same token answered 200 twice
            return
        if repeat:
            # A newer live token at that dispenser drew the same code: a fair redemption.
            self.ledger.code_reissued += 1
        self.redeemed_refs.add(ref)
        self.ledger.codes_redeemed += 1
        self.spent.append((index, code, ref or first_ref))

    async def events(self, due: float) -> None:
        """A new batch of dispense events from one dispenser's outbox."""
        index = self.rng.choice(self.enrolled)
        moment = datetime.now(UTC).isoformat()
        batch = [new_event(n, moment) for n in range(EVENTS_PER_BATCH)]
        self.ledger.events.update((index, e["event_id"]) for e in batch)
        await self._upload("events", due, index, batch)

    async def events_resent(self, due: float) -> None:
        """A batch sent again (the device never saw the answer): must change nothing."""
        if not self.ledger.acked:
            self.stats.skipped["events resent"] += 1  # nothing sent yet to send again
            return
        index, batch = self.rng.choice(self.ledger.acked)
        await self._upload("events resent", due, index, batch)

    async def _upload(self, kind: str, due: float, index: int, batch: list[dict[str, str]]) -> None:
        answer = await self._call(
            kind,
            due,
            (200,),
            method="POST",
            path="/api/v1/device/events",
            body={"events": batch},
            headers=self._auth(index),
        )
        if answer is None:
            self.ledger.unconfirmed.append((index, batch))
        elif kind == "events":
            self.ledger.acked.append((index, batch))

    async def retry_unconfirmed(self) -> int:
        """Upload again every batch without an answer, as the device's outbox would."""
        left = 0
        for index, batch in self.ledger.unconfirmed:
            for _ in range(3):
                try:
                    answer = await self.client.request(
                        "POST",
                        "/api/v1/device/events",
                        body={"events": batch},
                        headers=self._auth(index),
                        timeout=30,
                    )
                except (TimeoutError, OSError, asyncio.IncompleteReadError):
                    continue
                if answer.status == 200:
                    break
            else:
                left += 1
        self.ledger.unconfirmed.clear()
        return left

    def fires(self) -> dict[str, Fire]:
        """The request of each kind in the rates."""
        return {
            "heartbeat": self.heartbeat,
            "config": self.config,
            "token": self.token,
            "typed code": self.typed_code,
            "events": self.events,
            "events resent": self.events_resent,
        }
