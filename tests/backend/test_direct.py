"""Statements straight to the driver (backend/services/direct.py): the same rows as through
the session, SQLAlchemy's errors without the parameters, connections back in the pool as
they came, a dead database connection costing one request, and the session's own
transaction respected."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import bindparam, event, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from backend.extensions import db
from backend.models import DailySecret, Dispenser
from backend.services.direct import Direct, rows
from backend.services.sites import with_site_columns
from backend.services.sql import table_of
from tests.driver import statements_sent
from tests.factories import auth, enroll, make_dispenser, make_site

pytestmark = pytest.mark.postgres

_SECRETS = table_of(DailySecret)
_BY_PUBLIC_ID = Direct(
    with_site_columns().where(table_of(Dispenser).c.public_id == bindparam("public_id"))
)
_NEW_SECRET = Direct(
    insert(_SECRETS)
    .values(day=bindparam("day"), secret=bindparam("secret"), created_at=bindparam("now"))
    .returning(_SECRETS.c.day, _SECRETS.c.secret, _SECRETS.c.created_at)
)


@contextmanager
def _taken() -> Iterator[list[Any]]:
    """Every connection the app takes from its pool meanwhile (its psycopg connection)."""
    taken: list[Any] = []

    def take(connection: Any, *_args: Any) -> None:
        taken.append(connection)

    event.listen(db.engine, "checkout", take)
    try:
        yield taken
    finally:
        event.remove(db.engine, "checkout", take)


def _production_statements() -> dict[str, Direct]:
    from backend.services import codes, devices, quotas, sites, tokens

    found = {
        "device key lookup": devices._DISPENSER_BY_KEY,
        "heartbeat": devices._HEARTBEAT_BY_KEY,
        "token issue's load": sites._DISPENSER_TO_ISSUE,
        "typed code": codes._CHECK_AT_ONCE,
        "day's secret": quotas._DAILY_SECRET,
    }
    found.update({f"give-back {m.__name__}": d for m, d in codes._GIVE_BACKS.items()})
    found.update({f"token issue {key}": d for key, d in tokens._IN_ONE.items()})
    return found


@pytest.mark.parametrize("name", sorted(_production_statements()))
def test_each_statement_is_sent_as_sqlalchemy_would_send_it(name: str) -> None:
    """The text, the parameters converted and the columns converted: as SQLAlchemy's own
    compilation for psycopg has them (its private tables, read here only to compare)."""
    statement = _production_statements()[name]
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    ours = statement.compiled(dialect)
    theirs = statement.statement.compile(dialect=dialect)
    assert ours.sql == theirs.string
    assert set(ours.bind_processors) == set(theirs._bind_processors)
    assert [column for column, _ in ours.columns] == [c[0] for c in theirs._result_columns]
    assert [processor is not None for _, processor in ours.columns] == [
        c[3].dialect_impl(dialect).result_processor(dialect, None) is not None
        for c in theirs._result_columns
    ]


def test_a_row_reads_as_through_the_session(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with committing_postgres_app.app_context():
        public_id = make_dispenser(make_site(name="Direct")).public_id
        db.session.commit()
        with statements_sent(monkeypatch) as sent:
            (direct,) = rows(db.session, _BY_PUBLIC_ID, {"public_id": public_id})
        assert len(sent) == 1 and not db.session().in_transaction()  # not the session's
        db.session.execute(text("SELECT 1"))  # a transaction: through the session now
        (through,) = rows(db.session, _BY_PUBLIC_ID, {"public_id": public_id})
        db.session.rollback()
    assert dict(direct) == dict(through)
    assert direct["site_name"] == "Direct"
    created = direct["dispenser_created_at"]
    assert isinstance(created, datetime) and created.tzinfo is UTC  # UTCDateTime's reading


def test_in_a_transaction_it_sees_the_sessions_own_writes(committing_postgres_app: Flask) -> None:
    with committing_postgres_app.app_context():
        dispenser = make_dispenser(make_site())
        public_id = dispenser.public_id
        db.session.commit()
        dispenser.label = "not yet committed"
        db.session.flush()
        assert db.session().in_transaction()
        (seen,) = rows(db.session, _BY_PUBLIC_ID, {"public_id": public_id})
        assert seen["dispenser_label"] == "not yet committed"
        db.session.rollback()
        (seen,) = rows(db.session, _BY_PUBLIC_ID, {"public_id": public_id})  # straight
        assert seen["dispenser_label"] != "not yet committed"


def test_an_error_is_sqlalchemys_without_the_parameters_and_the_connection_goes_back_clean(
    committing_postgres_app: Flask,
) -> None:
    now = datetime.now(UTC)
    secret = b"do not print me"
    with committing_postgres_app.app_context():
        values = {"day": now.date(), "secret": secret, "now": now}
        with _taken() as taken:
            (stored,) = rows(db.session, _NEW_SECRET, values)
            assert bytes(stored["secret"]) == secret and stored["created_at"] == now
            with pytest.raises(IntegrityError) as raised:
                rows(db.session, _NEW_SECRET, values)  # the same day again
        assert isinstance(raised.value.orig, psycopg.errors.UniqueViolation)
        assert "do not print me" not in str(raised.value)
        assert taken and all(
            connection.autocommit is False
            and connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            for connection in taken
        )
        # The first row was committed on its own: another session sees it.
        db.session.rollback()
        assert db.session.scalar(select(_SECRETS.c.secret)) == secret


def test_connections_the_database_dropped_cost_one_request(committing_postgres_app: Flask) -> None:
    """After a failover or restart every pooled connection is dead: the first statement to
    find one answers 503 and drops the pool's others, so the next request connects anew."""
    app = committing_postgres_app
    client = app.test_client()
    with app.app_context():
        key = enroll(client, make_dispenser(make_site()))["device_key"]
        engine = db.engine
        pooled = [engine.raw_connection() for _ in range(3)]  # three in the pool
        for connection in pooled:
            connection.close()
        admin_url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    assert client.get("/api/v1/device/config", headers=auth(key)).status_code == 200
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    statuses = [
        client.get("/api/v1/device/config", headers=auth(key)).status_code for _ in range(4)
    ]
    assert statuses == [503, 200, 200, 200]
