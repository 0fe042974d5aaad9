"""What the app hands the database driver: each statement psycopg's cursors execute, for
the ORM session or straight (backend/services/direct.py), in the order sent (the paths
these tests watch use neither executemany nor COPY)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
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
