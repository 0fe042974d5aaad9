"""The local ledger: atomic dispense, outbox, and crash safety under kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from device.state import open_store
from device.store import AlreadySpent, Store
from protocol.token import parse_token
from tests.device.helpers import config_doc, make_token

ROOT = Path(__file__).parents[2]


def test_dispense_spends_token_and_queues_event(tmp_path: Path, now) -> None:
    store = Store(tmp_path / "d.db")
    event_id = store.record_dispense(method="qr", now=now, token_ref="a" * 64)
    assert store.is_spent("a" * 64)
    assert "a" * 64 in store
    [event] = store.pending_events(10)
    assert event.event_id == event_id
    assert event.body == {
        "event_id": event_id,
        "kind": "dispense",
        "method": "qr",
        "occurred_at": "2026-11-22T05:00:00+00:00",
        "token_ref": "a" * 64,
    }


def test_second_dispense_of_a_token_commits_nothing(tmp_path: Path, now) -> None:
    store = Store(tmp_path / "d.db")
    store.record_dispense(method="qr", now=now, token_ref="a" * 64)
    with pytest.raises(AlreadySpent):
        store.record_dispense(method="code", now=now, token_ref="a" * 64)
    assert store.pending_count() == 1


def test_refusal_is_an_event_with_its_reason(tmp_path: Path, now) -> None:
    store = Store(tmp_path / "d.db")
    store.record_refusal(method="qr", reason="expired", now=now)
    [event] = store.pending_events(10)
    assert event.body["kind"] == "refuse"
    assert event.body["reason"] == "expired"
    assert "token_ref" not in event.body


def test_uploaded_events_leave_the_queue_and_survive_reopen(tmp_path: Path, now) -> None:
    store = Store(tmp_path / "d.db")
    ids = [store.record_dispense(method="face", now=now) for _ in range(5)]
    store.mark_uploaded(ids[:3], now=now)
    store.close()
    reopened = Store(tmp_path / "d.db")
    assert [e.event_id for e in reopened.pending_events(10)] == ids[3:]
    assert reopened.counts() == {"dispense:face": 5}
    assert reopened.last_dispense_at() == now


def test_prune_forgets_old_uploads_and_long_expired_tokens(tmp_path: Path, now) -> None:
    store = Store(tmp_path / "d.db")
    old = now - timedelta(days=10)
    event = store.record_dispense(method="qr", now=old, token_ref="a" * 64, token_expires_at=old)
    store.mark_uploaded([event], now=old)
    store.record_dispense(method="qr", now=now, token_ref="b" * 64, token_expires_at=now)
    store.prune(now=now)
    assert not store.is_spent("a" * 64)
    assert store.is_spent("b" * 64)
    assert store.counts() == {"dispense:qr": 1}


@pytest.mark.slow  # real processes killed mid-write, many times
def test_kill_9_never_loses_a_committed_event_nor_double_dispenses(
    tmp_path: Path, signing_key, dispenser_id
) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    unique = [
        make_token(signing_key, dispenser_id, now, life=timedelta(hours=1)) for _ in range(200)
    ]
    # Every token is shown twice, the repeat later, so restarts meet both fresh and spent ones.
    tokens = unique + unique[::-1]
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text("\n".join(tokens), encoding="ascii")
    state = tmp_path / "state"
    store = open_store(state)
    store.set_setting("config_doc", json.dumps(config_doc(dispenser_id, [signing_key])))
    store.close()
    motor_log = tmp_path / "motor.log"
    command = [
        sys.executable,
        "-m",
        "tests.device.crash_worker",
        str(state),
        str(tokens_file),
        str(motor_log),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE) as worker:  # noqa: S603 - our own worker
            assert worker.stdout is not None
            assert worker.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.4))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                kills += 1
            worker.wait(timeout=30)
    assert kills >= 1, "no run was killed: the test proved nothing"
    final = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120, check=True)  # noqa: S603
    assert b"done" in final.stdout

    store = Store(state / "device.db")
    events = [e.body for e in store.pending_events(10_000)]
    dispensed = Counter(e["token_ref"] for e in events if e["kind"] == "dispense")
    refs = {parse_token(t)[0].token_ref() for t in unique}
    # Every token dispensed exactly once in the ledger, whatever the kills.
    assert set(dispensed) == refs
    assert set(dispensed.values()) == {1}
    assert all(store.is_spent(ref) for ref in refs)
    # Event ids are unique.
    assert len({e["event_id"] for e in events}) == len(events)
    # The motor never turned twice for one token; at most one turn lost per kill
    # (committed, then killed before the motor turned).
    turns = Counter(int(line) % len(unique) for line in motor_log.read_text().split())
    assert max(turns.values()) == 1
    assert len(unique) - kills <= sum(turns.values()) <= len(unique)
    store.close()


def test_a_ledger_from_the_first_version_is_upgraded_in_place(tmp_path: Path, now) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL"
            " UNIQUE, kind TEXT NOT NULL, method TEXT NOT NULL, occurred_at TEXT NOT NULL,"
            " body TEXT NOT NULL, uploaded_at TEXT);"
            "INSERT INTO outbox (event_id, kind, method, occurred_at, body) VALUES"
            " ('a', 'dispense', 'face', '2026-11-22T05:00:00+00:00', '{\"event_id\": \"a\"}');"
        )
    store = Store(path)
    assert store.pending_count() == 1
    assert store.rejected_count() == 0
    store.close()


def test_face_events_carry_only_id_kind_method_and_time(tmp_path: Path, now: datetime) -> None:
    store = Store(tmp_path / "device.db")
    store.record_dispense(method="face", now=now)
    store.record_refusal(method="face", reason="window", now=now)
    store.record_refusal(method="qr", reason="expired", now=now)
    bodies = [event.body for event in store.pending_events(10)]
    assert [set(body) for body in bodies[:2]] == [{"event_id", "kind", "method", "occurred_at"}] * 2
    assert bodies[2]["reason"] == "expired"
    store.close()


def test_ledger_file_is_owner_only(tmp_path: Path) -> None:
    # The stored config carries the dispenser's token MAC keys.
    path = tmp_path / "ledger.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    store = Store(path)
    store.set_setting("config_doc", "{}")
    assert path.stat().st_mode & 0o777 == 0o600
    store.close()
