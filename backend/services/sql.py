"""Small helpers for dialect-specific SQL (upserts) used by the atomic rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar, cast

from sqlalchemy import Connection, Table, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

# Services accept a plain Session or Flask-SQLAlchemy's request-scoped proxy of one.
Db: TypeAlias = Session | scoped_session[Any]

Built = TypeVar("Built")
Model = TypeVar("Model")


def table_of(model: Any) -> Table:
    """A mapped class's table, for Core statements that skip the ORM's per-row work."""
    return cast(Table, model.__table__)


def set_for_transaction(executor: Db | Connection, name: str, milliseconds: int) -> None:
    """Set a PostgreSQL time limit (statement_timeout, lock_timeout...) for the current
    transaction only: the pooled connection goes back without it."""
    executor.execute(
        text("SELECT set_config(:name, :value, true)"), {"name": name, "value": str(milliseconds)}
    )


def instance_from_row(model: type[Model], row: Any, prefix: str, **related: object) -> Model:
    """An instance of ``model`` holding the values of a Core row's columns named
    ``prefix`` + column name (and ``related`` objects), as if loaded, but in no session:
    to read, never to change or add. Its values go straight into the instance's dict,
    as the ORM's own loading does, without the ORM's events or identity map: an object
    for a statement that returns its rows itself (an UPDATE ... RETURNING)."""
    instance = cast(Model, inspect(model).class_manager.new_instance())
    values = vars(instance)
    for column in table_of(model).columns:
        values[column.key] = row[prefix + column.key]
    values.update(related)
    return instance


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


def session_of(session: Db) -> Session:
    """The plain Session behind ``session`` (the request's own, for a scoped one)."""
    return session() if isinstance(session, scoped_session) else session


def is_idle(session: Db) -> bool:
    """No transaction open and nothing waiting to be flushed: the session holds no work of
    its own (a statement may go straight to the driver, backend.services.direct; there is
    nothing to commit)."""
    plain = session_of(session)
    return not (plain.in_transaction() or plain.new or plain.dirty or plain.deleted)


def commit(session: Db) -> None:
    """Commit the session's transaction, if it began one or holds changes: a request whose
    statements all went straight to the driver (backend.services.direct) has nothing to
    commit, and SQLAlchemy would still make and commit an empty transaction."""
    if not is_idle(session):
        session.commit()
