"""The city benchmark's machinery, small: correctness only, never timing.

A fleet of 200 built through the services, gunicorn with the production settings, a
sample enrolled through the API, a few seconds of the open-loop city mix: no request
fails, every event is stored exactly once (resent batches included), no typed code is
redeemed twice. And no request's statement count grows with the fleet (50 vs 200).
Timing goals live in bench/city_load.py.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from backend.extensions import db
from bench.city_http import Client, Stats, run_open_loop, schedule
from bench.city_mix import CityMix, Ledger, city_rates
from bench.city_server import Server
from bench.city_setup import (
    build_fleet,
    make_app,
    new_event,
    statement_counts,
    tally,
)
from tests.conftest import POSTGRES_ADMIN_URL
from tests.databases import fresh_database
from tests.driver import statements_sent
from tests.require import unavailable

pytestmark = pytest.mark.postgres


def _admin_url() -> str:
    try:
        with fresh_database(POSTGRES_ADMIN_URL):
            pass
    except OperationalError as error:
        unavailable("POSTGRES", f"PostgreSQL not reachable: {error}")
    return POSTGRES_ADMIN_URL


def _counts(admin_url: str, dispensers: int) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as folder, fresh_database(admin_url) as url:
        app = make_app(url, folder)
        fleet = build_fleet(app, dispensers, sample=0, now=datetime.now(UTC))
        counts = statement_counts(app, fleet)
        with app.app_context():
            db.engine.dispose()
    return counts


def test_no_request_sends_more_statements_in_a_bigger_fleet() -> None:
    admin = _admin_url()
    small, large = _counts(admin, 50), _counts(admin, 200)
    assert small == large
    assert set(large) >= {"heartbeat", "config 304", "token", "typed code", "events (20)"}
    # Counted on the wire (bench/city_setup.py, WireTrace), whichever way they went.
    assert large["heartbeat"] == 1 and large["config 304"] == 1 and large["token"] == 2
    assert large["typed code"] == 2 and large["events (20)"] == 2


def _access_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON access lines the server wrote."""
    lines = []
    for text in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if line.get("logger") == "fairroll.access":
                lines.append(line)
    return lines


async def _drive(port: int, mix: CityMix, seconds: float) -> None:
    rates = {**city_rates(1000, 1.0), "events resent": 1.0}  # enough resends in a short run
    plan = schedule(rates, seconds)
    await run_open_loop(plan, mix.fires())
    assert await mix.retry_unconfirmed() == 0
    await mix.client.close()


def test_the_city_mix_on_gunicorn_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    admin = _admin_url()
    with fresh_database(admin) as url:
        app = make_app(url, str(tmp_path))
        fleet = build_fleet(app, 200, sample=5, now=datetime.now(UTC))
        baseline = tally(app)
        env = {
            "FAIRROLL_ENV": "production",
            "SECRET_KEY": "city-check-" + "s" * 40,
            "DATABASE_URL": url,
            "FAIRROLL_SIGNING_KEY_DIR": str(tmp_path),
            "FAIRROLL_INSTANCE_PATH": str(tmp_path),
            # Correctness, not capacity: a busy test machine must not shed requests here.
            "FAIRROLL_SHED_AFTER_MS": "0",
            "FAIRROLL_PROXY_HOPS": "1",  # the mix names each site's address, as the LB does
        }
        with Server("app:app", env, tmp_path / "server.log") as server:
            stats, ledger = Stats(), Ledger()

            async def run() -> None:
                client = Client(server.port)
                for index, code in fleet.enrollment_codes.items():
                    body = {"enrollment_code": code}
                    answer = await client.request("POST", "/api/v1/device/enroll", body=body)
                    assert answer.status == 201
                    fleet.keys[index] = answer.json()["device_key"]
                await _drive(server.port, CityMix(client, fleet, stats, ledger), 4.0)
                refused = await client.request(
                    "POST",
                    "/api/v1/device/heartbeat",
                    body={"paper_level": 50, "status": "ok"},
                    headers={"Authorization": "Bearer not-a-device-key"},
                )
                assert refused.status == 401
                await client.close()

            # A loop of its own in a thread of its own: a page test that ran earlier in this
            # worker leaves Playwright's event loop running on the main thread.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, run()).result()
        after = tally(app)
        with app.app_context():
            db.engine.dispose()
        access = _access_lines(tmp_path / "server.log")
    assert stats.total_errors() == 0, dict(stats.errors)
    # Production logs problems only (the load balancers' S3 logs hold every request):
    # the refused device key, never the hundreds of answered heartbeats.
    assert any(
        line["status"] == 401 and "/device/heartbeat" in line["message"] for line in access
    ), access
    assert all(line["status"] >= 400 or line["duration_ms"] >= 1000 for line in access)
    for kind in ("heartbeat", "config", "token", "typed code", "events", "events resent"):
        assert stats.latencies[kind], f"no {kind} answered"
    assert ledger.events and after.events - baseline.events == len(ledger.events)
    assert after.distinct_events == after.events
    assert ledger.codes_redeemed_twice == 0
    assert after.redeemed_by_code - baseline.redeemed_by_code == ledger.codes_redeemed
    assert after.tokens - baseline.tokens == ledger.tokens_issued


def test_a_token_a_typed_code_and_an_event_batch_wait_for_the_disk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token, a typed code and an event batch are durable: no statement of theirs
    changes PostgreSQL's setting, and every connection they used (each statement straight
    to the driver, or the session's transaction) has the default when it goes back to the
    pool. (A setting local to a transaction is gone by then: the statements' text is the
    check for that. A heartbeat does not wait: it is one statement that sets it off for
    itself, test_statement_counts.py.)"""
    from sqlalchemy import event

    with tempfile.TemporaryDirectory() as folder, fresh_database(_admin_url()) as url:
        app = make_app(url, folder)
        fleet = build_fleet(app, 20, sample=0, now=datetime.now(UTC))
        settings: list[str] = []

        def at_checkin(dbapi_connection: Any, _record: object) -> None:
            shown = dbapi_connection.execute("SHOW synchronous_commit").fetchone()[0]
            dbapi_connection.rollback()  # back in the pool as it came
            settings.append(shown)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "checkin", at_checkin)
        client = app.test_client()
        auth = {"Authorization": f"Bearer {fleet.keys[3]}"}
        outcomes: dict[str, tuple[list[str], list[str]]] = {}

        def send(kind: str, method: str, path: str, expect: int, **kwargs: Any) -> Any:
            settings.clear()
            with statements_sent(monkeypatch) as sent:
                answer = client.open(path, method=method, **kwargs)
            assert answer.status_code == expect, answer.get_data()
            relaxing = [
                s
                for s in sent
                if ("set_config(" in s or "synchronous_commit" in s) and "SHOW" not in s
            ]
            outcomes[kind] = (sorted(set(settings)), relaxing)
            return answer

        try:
            beat = {"paper_level": 50, "status": "ok"}
            send("heartbeat", "POST", "/api/v1/device/heartbeat", 200, json=beat, headers=auth)
            token_path = f"/api/v1/dispensers/{fleet.public_ids[3]}/tokens"
            send("token", "POST", token_path, 201, json={})
            code = send("token", "POST", token_path, 201, json={}).get_json()["code"]
            send(
                "typed code",
                "POST",
                "/api/v1/device/codes/verify",
                200,
                json={"code": code},
                headers=auth,
            )
            moment = datetime.now(UTC).isoformat()
            batch = {"events": [new_event(n, moment) for n in range(3)]}
            send("events", "POST", "/api/v1/device/events", 200, json=batch, headers=auth)
        finally:
            event.remove(engine, "checkin", at_checkin)
            with app.app_context():
                db.engine.dispose()
    assert outcomes.pop("heartbeat")[1], "the heartbeat's statement sets it off for itself"
    assert outcomes == {kind: (["on"], []) for kind in ("token", "typed code", "events")}
