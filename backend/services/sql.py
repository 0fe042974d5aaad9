"""Small helpers for dialect-specific SQL (upserts) used by the atomic rules."""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

# Services accept a plain Session or Flask-SQLAlchemy's request-scoped proxy of one.
Db: TypeAlias = Session | scoped_session[Any]


def insert_for(session: Db, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT for the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def relax_durability(session: Db) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For writes that the next one replaces anyway (a heartbeat): a crash may lose the last
    fraction of a second of them, never corrupt anything, and the commit skips the wait
    for the disk (and for the standby, on a Multi-AZ database).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))
