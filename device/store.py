"""The device's local SQLite ledger: spent tokens, the event outbox and small settings.

A dispense is committed here (spent-set row and outbox event in one transaction) before
the motor turns, so a crash at any point neither loses a committed event nor lets the
same token dispense twice. Refusals are outbox events too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.events import FACE_METHOD, EventDocument, new_event_id

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS spent (
    token_ref TEXT PRIMARY KEY,
    spent_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body TEXT NOT NULL,
    uploaded_at TEXT,
    rejected INTEGER NOT NULL DEFAULT 0  -- the backend refused it as malformed: kept, not resent
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE uploaded_at IS NULL;
CREATE TABLE IF NOT EXISTS setting (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class AlreadySpent(Exception):
    """The token was already used at this dispenser."""


@dataclass(frozen=True)
class Event:
    """One outbox event as it is uploaded."""

    event_id: str
    body: dict[str, Any]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Store:
    """The ledger in one SQLite file; safe to share between the loop and the sync thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        # Owner-only: the stored config holds this dispenser's token MAC keys (secrets).
        self.path.touch(mode=0o600, exist_ok=True)
        self.path.chmod(0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed dispense must survive a power cut, not only a crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._db.executescript(SCHEMA)
            self._upgrade()

    def _upgrade(self) -> None:
        """Bring a ledger made by an older version up to this schema, keeping its data."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "rejected" not in columns:
            self._db.execute("ALTER TABLE outbox ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0")
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def is_spent(self, token_ref: str) -> bool:
        """Tell whether the token with this reference was already used here."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM spent WHERE token_ref = ?", (token_ref,))
            return row.fetchone() is not None

    def __contains__(self, token_ref: object) -> bool:
        return isinstance(token_ref, str) and self.is_spent(token_ref)

    def record_dispense(
        self,
        *,
        method: str,
        now: datetime,
        token_ref: str | None = None,
        token_expires_at: datetime | None = None,
    ) -> str:
        """Commit a dispense (and spend its token) in one transaction; return the event id.

        Raises AlreadySpent, committing nothing, when the token is already spent.
        """
        event_id = new_event_id()
        body = EventDocument(event_id, "dispense", method, now, token_ref=token_ref).to_json()
        with self._transaction() as db:
            if token_ref is not None:
                expires = token_expires_at or now + timedelta(days=1)
                try:
                    db.execute(
                        "INSERT INTO spent (token_ref, spent_at, expires_at) VALUES (?, ?, ?)",
                        (token_ref, _iso(now), _iso(expires)),
                    )
                except sqlite3.IntegrityError as exc:
                    raise AlreadySpent(token_ref) from exc
            self._insert_event(db, body)
        return event_id

    def record_refusal(
        self, *, method: str, reason: str, now: datetime, token_ref: str | None = None
    ) -> str:
        """Commit a refusal event; return its id.

        A face refusal carries no reason: "seen in this window" is a fact about a face,
        so face events hold only id, kind, method and time (docs/face.md).
        """
        event_id = new_event_id()
        body = EventDocument(
            event_id,
            "refuse",
            method,
            now,
            reason=None if method == FACE_METHOD else reason,
            token_ref=token_ref,
        ).to_json()
        with self._transaction() as db:
            self._insert_event(db, body)
        return event_id

    @staticmethod
    def _insert_event(db: sqlite3.Connection, body: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO outbox (event_id, kind, method, occurred_at, body) VALUES (?, ?, ?, ?, ?)",
            (
                body["event_id"],
                body["kind"],
                body["method"],
                body["occurred_at"],
                json.dumps(body, sort_keys=True),
            ),
        )

    def pending_events(self, limit: int) -> list[Event]:
        """The oldest events not yet acknowledged by the backend."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, body FROM outbox WHERE uploaded_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [Event(event_id=row[0], body=json.loads(row[1])) for row in rows]

    def pending_event(self, event_id: str) -> Event | None:
        """The event with this id if it still waits for upload, else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT event_id, body FROM outbox WHERE event_id = ? AND uploaded_at IS NULL",
                (event_id,),
            ).fetchone()
        return Event(event_id=row[0], body=json.loads(row[1])) if row else None

    def mark_uploaded(self, event_ids: list[str], *, now: datetime) -> None:
        """Record that the backend has stored these events."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET uploaded_at = ? WHERE event_id = ?",
                [(_iso(now), event_id) for event_id in event_ids],
            )

    def mark_rejected(self, event_id: str, *, now: datetime) -> None:
        """Record that the backend refused this event as malformed (it is not sent again)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET uploaded_at = ?, rejected = 1 WHERE event_id = ?",
                (_iso(now), event_id),
            )

    def rejected_count(self) -> int:
        """How many events the backend refused."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM outbox WHERE rejected = 1")
            return int(row.fetchone()[0])

    def pending_count(self) -> int:
        """How many events wait for upload."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM outbox WHERE uploaded_at IS NULL")
            return int(row.fetchone()[0])

    def counts(self) -> dict[str, int]:
        """Totals by kind and method, for the status command."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind || ':' || method, count(*) FROM outbox GROUP BY kind, method"
            ).fetchall()
        return {str(name): int(count) for name, count in rows}

    def last_dispense_at(self) -> datetime | None:
        """When this dispenser last dispensed, if ever."""
        with self._lock:
            row = self._db.execute(
                "SELECT max(occurred_at) FROM outbox WHERE kind = 'dispense'"
            ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def prune(self, *, now: datetime, keep: timedelta = timedelta(days=7)) -> None:
        """Forget uploaded events older than ``keep`` and spent tokens long expired."""
        cutoff = _iso(now - keep)
        with self._transaction() as db:
            db.execute(
                "DELETE FROM outbox WHERE uploaded_at IS NOT NULL AND rejected = 0 "
                "AND occurred_at < ?",
                (cutoff,),
            )
            # An expired token can never verify again, so its spent row is no longer needed.
            db.execute("DELETE FROM spent WHERE expires_at < ?", (_iso(now - timedelta(days=1)),))

    def get_setting(self, key: str) -> str | None:
        """Read a stored setting."""
        with self._lock:
            row = self._db.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO setting (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
