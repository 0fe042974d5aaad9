"""What the app hands the database driver and what goes on the wire, for the ORM session's
statements and those sent straight (backend/services/direct.py) alike: each statement
psycopg's cursors execute, in the order sent (the paths these tests watch use neither
executemany nor COPY), and libpq's trace of every connection taken from the pool (the
tests, and bench/city_setup.py's statement counts)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import Engine, event

if TYPE_CHECKING:
    import pytest


@contextmanager
def statements_sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL text of each statement psycopg's cursors execute meanwhile (BEGIN, COMMIT
    and ROLLBACK are the connection's own calls, not statements: count them with the
    engine's events)."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def recorded(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return execute(cursor, query, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(psycopg.Cursor, "execute", recorded)
        yield sent


class WireTrace:
    """What an engine's connections send PostgreSQL while it is open, as libpq's trace
    writes it: every connection taken from the pool is traced until it goes back, so the
    statements sent straight to the driver (backend/services/direct.py) show as much as
    the session's. Read it once the connections are back (a request's are, when it has
    been answered). PostgreSQL only."""

    def __init__(self, engine: Engine) -> None:
        self._trace = tempfile.NamedTemporaryFile("a+", suffix=".trace")  # noqa: SIM115
        self._start = 0
        self.engine = engine
        self.connections: list[Any] = []  # each one taken (psycopg connections)
        event.listen(engine, "checkout", self._traced)
        event.listen(engine, "checkin", self._untraced)

    def _traced(self, dbapi_connection: Any, *_args: Any) -> None:
        self.connections.append(dbapi_connection)
        dbapi_connection.pgconn.trace(self._trace.fileno())

    def _untraced(self, dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.pgconn.untrace()  # and writes out what it buffered

    def reset(self) -> None:
        """Read from now on."""
        self._start = os.path.getsize(self._trace.name)
        self.connections.clear()

    def sent(self) -> list[str]:
        """The messages sent since the last reset (libpq's trace lines of the frontend)."""
        with open(self._trace.name, encoding="utf-8", errors="replace") as trace:
            trace.seek(self._start)
            return [line for line in trace if "\tF\t" in line]

    @property
    def count(self) -> int:
        """Statements sent since the last reset: each Execute and each simple query, but
        BEGIN, COMMIT and ROLLBACK (each one more round trip)."""
        return sum(
            "\tExecute\t" in line
            or ("\tQuery\t" in line and not any(word in line for word in _TRANSACTION))
            for line in self.sent()
        )

    def close(self) -> None:
        """Stop tracing."""
        event.remove(self.engine, "checkout", self._traced)
        event.remove(self.engine, "checkin", self._untraced)
        self._trace.close()

    def __enter__(self) -> WireTrace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_TRANSACTION = ('"BEGIN', '"COMMIT', '"ROLLBACK')
