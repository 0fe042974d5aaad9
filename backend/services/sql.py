"""Small helpers for dialect-specific SQL (upserts) used by the atomic rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

# Services accept a plain Session or Flask-SQLAlchemy's request-scoped proxy of one.
Db: TypeAlias = Session | scoped_session[Any]

Built = TypeVar("Built")


def built_once(build: Callable[[str], Built]) -> Callable[[Db], Built]:
    """Build a statement once per database dialect, with bind parameters for its values.

    A request path runs the same few statements thousands of times a second across a
    city; building a SQLAlchemy statement costs more Python time than sending it, so the
    hot paths build theirs once (``build(dialect_name)``) and pass the values at execution.
    """
    made: dict[str, Built] = {}

    def get(session: Db) -> Built:
        dialect = session.get_bind().dialect.name
        statement = made.get(dialect)
        if statement is None:
            statement = made[dialect] = build(dialect)
        return statement

    return get


def insert_for_dialect(dialect: str, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT for the named database dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def insert_for(session: Db, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT for the session's database."""
    return insert_for_dialect(session.get_bind().dialect.name, table)


def relax_durability(session: Db) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For writes that the next one replaces anyway (a heartbeat): a crash may lose the last
    fraction of a second of them, never corrupt anything, and the commit skips the wait
    for the disk (and for the standby, on a Multi-AZ database).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Straight to the driver: nothing to compile or cache for a fixed statement.
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
