"""The hot statements, sent straight to the driver instead of through the ORM session.

A city's most frequent requests (heartbeat, config poll, token issue, typed code) each
send one or two statements that stand on their own: each is its own transaction, and
none needs the one before it to be undone if it fails. Through the session, one such
statement (a device key lookup, as a request makes it) cost 0.41 to 0.44 ms of the
backend's CPU in-process: the session, its connection from the pool and its
transaction, SQLAlchemy's execution context and result. Sent with psycopg on a
connection from the same pool, 0.18 to 0.19 ms (``bench/request_cpu.py``;
docs/operations.md, "Statements straight to the driver"). A service that calls ``rows``
outside a transaction therefore commits that statement itself, on PostgreSQL.

``Direct`` is a SQLAlchemy Core statement compiled once per database dialect, with the
processors of its parameters' and columns' types, so a row reads as SQLAlchemy gives it.
``rows`` runs one, and takes the direct way only where the session would have run the
statement on its own anyway:

- PostgreSQL through psycopg, a session bound to the app's engine, no transaction open
  and nothing waiting to be flushed: the statement runs in autocommit on a connection taken from the
  engine's pool (its connect events and recycling apply) and given back at once, in its
  transactional mode again. The driver's errors become SQLAlchemy's (``IntegrityError``,
  ``OperationalError``...), with no parameters in their text when the engine hides them;
  a connection found dead drops the pool's older ones too, as SQLAlchemy does.
- Otherwise (SQLite; a transaction already open, as the tests' rolled-back sessions or a
  request's steps that must stand or fall together): through the session, in its
  transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from backend.services.sql import Db, is_idle, session_of

Row = Mapping[str, Any]


@dataclass(frozen=True)
class _Compiled:
    """A statement as the driver takes it: its text, its constant parameters, the type
    processors of its parameters (by name), and its columns' names and type processors."""

    sql: str
    constants: dict[str, Any]
    bind_processors: dict[str, Callable[[Any], Any]]
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]


class Direct:
    """A Core statement to run with ``rows``: compiled once per dialect, on first use."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement compiled for ``dialect`` (pyformat parameters, as psycopg's)."""
        made = self._compiled.get(dialect.name)
        if made is None:
            made = self._compiled[dialect.name] = self._compile(dialect)
        return made

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        if compiled.positional or compiled.escaped_bind_names or compiled.post_compile_params:
            raise ValueError("a direct statement needs plain named parameters")
        # Each parameter once, by the name the text gives it; each type as the dialect
        # implements it (psycopg's JSON or Numeric convert unlike the generic types).
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        processors = {
            name: processor
            for name, bind in binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        constants = {}
        for name, bind in binds.items():
            if not bind.required:
                processor = processors.get(name)
                value = bind.effective_value
                constants[name] = value if processor is None else processor(value)
        columns = tuple(
            (column.name, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in self.statement.exported_columns
        )
        return _Compiled(compiled.string, constants, processors, columns)


def rows(session: Db, statement: Direct, parameters: Mapping[str, Any]) -> Sequence[Row]:
    """The rows ``statement`` gives for ``parameters``, each a mapping of column name to
    value; straight to the driver where the session would run it on its own (the module's
    docstring), else through the session."""
    engine = _direct_engine(session)
    if engine is None:
        result = cast(CursorResult[Any], session.execute(statement.statement, parameters))
        return [cast(Row, row._mapping) for row in result] if result.returns_rows else []
    try:
        pooled = engine.raw_connection()
    except psycopg.Error as error:  # the database is unreachable
        raise _sqlalchemy_error(engine, error, None, None) from error
    try:
        compiled = statement.compiled(engine.dialect)  # the dialect knows its server now
        values = dict(compiled.constants)
        for name, value in parameters.items():
            processor = compiled.bind_processors.get(name)
            values[name] = value if processor is None else processor(value)
        found = _send(engine, pooled, compiled, values)
    finally:
        pooled.close()
    columns = compiled.columns
    return [
        {
            name: value if processor is None else processor(value)
            for (name, processor), value in zip(columns, row, strict=True)
        }
        for row in found
    ]


def _send(
    engine: Engine, pooled: PoolProxiedConnection, compiled: _Compiled, values: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Run the statement in autocommit on ``pooled``, and leave that in its transactional
    mode again (or dropped, if it cannot be: the pool then never hands it out again)."""
    connection = cast(psycopg.Connection[Any], pooled.driver_connection)
    try:
        connection.autocommit = True
        cursor = connection.execute(compiled.sql, values)
        return cursor.fetchall() if compiled.columns else []
    except psycopg.Error as error:
        invalidated = engine.dialect.is_disconnect(cast(Any, error), pooled, None)
        if invalidated:
            # As SQLAlchemy does for a disconnect: this connection and every one the pool
            # made before it are replaced (a failover leaves them all dead), so a process
            # loses one request to it, not one per pooled connection.
            engine.pool._invalidate(pooled, error)
        raise _sqlalchemy_error(
            engine, error, compiled.sql, values, invalidated=invalidated
        ) from error
    finally:
        if not connection.closed:
            try:
                connection.autocommit = False
            except psycopg.Error as error:
                pooled.invalidate(error)


def _sqlalchemy_error(
    engine: Engine,
    error: psycopg.Error,
    sql: str | None,
    values: dict[str, Any] | None,
    *,
    invalidated: bool = False,
) -> DBAPIError:
    """The error SQLAlchemy raises for ``error`` (IntegrityError, OperationalError...),
    without the parameters in its text when the engine hides them."""
    wrapped = DBAPIError.instance(
        sql,
        values,
        error,
        psycopg.Error,
        hide_parameters=engine.hide_parameters,
        dialect=engine.dialect,
        connection_invalidated=invalidated,
    )
    return cast(DBAPIError, wrapped)  # a DBAPIError for any error of the driver's


def _direct_engine(session: Db) -> Engine | None:
    """The engine to send a statement to directly, or None to send it through the session."""
    plain = session_of(session)
    bind = plain.bind or plain.get_bind()  # the session's own bind, found without a search
    if not isinstance(bind, Engine) or bind.dialect.driver != "psycopg":
        return None
    if not is_idle(plain):
        return None  # the session's path would flush first and see its own writes
    return bind
