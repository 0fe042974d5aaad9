"""The hot requests' round trips to the database: what each sends is part of its design
(docs/operations.md, "City scale": the table of statements per request), so a change
that adds one shows here."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select, text
from sqlalchemy.dialects import postgresql

from backend.extensions import db
from backend.models import Alert, CodeSourceBudget
from backend.services.codes import _CHECK_AT_ONCE, DISPENSER_BUDGET
from backend.services.tokens import _build_in_one
from protocol.clock import utcnow
from tests.driver import WireTrace
from tests.factories import auth, enroll, make_dispenser, make_site


class Statements:
    """The statements the test's session sends while counting."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.bind = db.session.get_bind()
        event.listen(self.bind, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.seen.append(args[2])

    def __enter__(self) -> Statements:
        self.seen.clear()
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.bind, "before_cursor_execute", self._seen)


@pytest.mark.postgres
@pytest.mark.parametrize("migrated_app", ["postgres"], indirect=True)
def test_a_typed_code_on_postgresql_is_the_device_lookup_and_one_statement(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=0, min_interval_seconds=0))
    key = enroll(client, dispenser)["device_key"]
    for _ in range(2):  # the second after the day's secret is known to the process
        code = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()["code"]
        with Statements() as counted:
            answer = client.post(
                "/api/v1/device/codes/verify", headers=auth(key), json={"code": code}
            )
        assert answer.status_code == 200
    # This test's session is in a transaction (the statements go through it, not straight
    # to the driver) and its commit is a savepoint release; production sends neither.
    work = [s for s in counted.seen if not s.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(work) == 2, work
    assert work[1].startswith("WITH live AS")


def test_no_parameter_of_a_statement_with_writing_ctes_becomes_a_column_value() -> None:
    """SQLAlchemy takes an execution parameter named like a column of a table that a
    statement writes as a value for that column: compiled with its own parameter names
    as column keys, the statement must stay the same."""
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    plain = _CHECK_AT_ONCE.statement.compile(dialect=dialect)
    keyed = _CHECK_AT_ONCE.statement.compile(dialect=dialect, column_keys=list(plain.params))
    assert keyed.string == plain.string


@pytest.mark.postgres
def test_a_typed_code_in_production_sends_no_begin_and_no_commit(
    committing_postgres_app: Flask,
) -> None:
    """Each of its statements is its own transaction (backend/services/direct.py): the
    wire, as libpq traces it, carries the lookup and the one statement, nothing else."""
    app = committing_postgres_app
    client = app.test_client()
    with app.app_context():
        dispenser = make_dispenser(make_site(window_seconds=0, min_interval_seconds=0))
        key = enroll(client, dispenser)["device_key"]
        public_id = dispenser.public_id
        engine = db.engine
    for _ in range(2):  # the first makes the day's secret, the second reads it (cached)
        code = client.post(f"/api/v1/dispensers/{public_id}/tokens").get_json()["code"]
    with WireTrace(engine) as wire:
        answer = client.post("/api/v1/device/codes/verify", headers=auth(key), json={"code": code})
        sent, connections = wire.sent(), wire.connections
    assert answer.status_code == 200
    assert not [line for line in sent if "BEGIN" in line or "COMMIT" in line], sent
    assert len([line for line in sent if "\tExecute\t" in line]) == 2, sent
    # Each went straight to the driver on a connection from the pool (backend/services/
    # direct.py), given back in its transactional mode: the next request to take it (a
    # voucher's steps, say) runs in a transaction.
    assert connections
    assert all(connection.autocommit is False for connection in connections)


def _enrolled(app: Flask) -> tuple[str, Engine]:
    """A dispenser enrolled through the API: its device key, and the app's engine."""
    with app.app_context():
        dispenser = make_dispenser(make_site())
        return enroll(app.test_client(), dispenser)["device_key"], db.engine


def test_a_heartbeat_in_production_is_one_statement_that_does_not_wait_for_the_disk(
    committing_postgres_app: Flask,
) -> None:
    """The device lookup, the UPDATE and SET LOCAL synchronous_commit = off travel as one
    statement, its own transaction (no BEGIN, no COMMIT): its commit, at the statement's
    end, skips the wait for the disk. A heartbeat that raises or resolves an alert adds
    the alert's conditional writes after it, in a transaction of their own; the config
    poll is its one lookup."""
    app = committing_postgres_app
    client = app.test_client()
    key, engine = _enrolled(app)
    healthy = {"paper_level": 80, "status": "ok"}
    for name, body, executes in (
        ("first", healthy, 1),
        ("healthy", healthy, 1),
        ("jammed", {"paper_level": 80, "status": "jam"}, 3),  # raise jam, resolve none
        ("mended", healthy, 2),  # resolve jam
    ):
        with WireTrace(engine) as wire:
            answer = client.post("/api/v1/device/heartbeat", headers=auth(key), json=body)
            sent, connections = wire.sent(), wire.connections
        assert answer.status_code == 200, answer.get_data()
        assert len([line for line in sent if "\tExecute\t" in line]) == executes, (name, sent)
        begins = [n for n, line in enumerate(sent) if "BEGIN" in line]
        commits = [n for n, line in enumerate(sent) if "COMMIT" in line]
        if executes == 1:
            assert not begins and not commits, sent
        else:  # the heartbeat's own statement first, committed; then the alerts' writes
            first_execute = next(n for n, line in enumerate(sent) if "\tExecute\t" in line)
            assert len(begins) == len(commits) == 1 and first_execute < begins[0], sent
        assert all(connection.autocommit is False for connection in connections)
        if name == "first":  # the statement is parsed (prepared once it recurs)
            parsed = [line for line in sent if "\tParse\t" in line]
            assert len(parsed) == 1 and "UPDATE dispenser SET" in parsed[0], sent
            assert "set_config(" in parsed[0]
    with app.app_context():
        kinds = db.session.execute(select(Alert.kind, Alert.is_open)).all()
    assert kinds == [("jam", None)]
    with WireTrace(engine) as wire:
        answer = client.get("/api/v1/device/config", headers=auth(key))
        sent = wire.sent()
    assert answer.status_code == 200
    assert not [line for line in sent if "BEGIN" in line or "ROLLBACK" in line], sent
    assert len([line for line in sent if "\tExecute\t" in line]) == 1, sent


def test_a_token_issue_in_production_sends_no_begin_and_no_commit(
    committing_postgres_app: Flask,
) -> None:
    """The dispenser's load and the one statement that checks the rules and mints, each
    its own transaction; a refusal then runs the rules one at a time in a transaction."""
    app = committing_postgres_app
    client = app.test_client()  # one visitor: its second token is refused by the quota
    with app.app_context():
        public_id = make_dispenser(make_site(min_interval_seconds=0)).public_id
        engine = db.engine
    path = f"/api/v1/dispensers/{public_id}/tokens"
    for _ in range(2):  # slot rows; the day's secret made, then read (cached)
        assert app.test_client().post(path).status_code == 201
    with WireTrace(engine) as wire:
        answer = client.post(path)
        sent, connections = wire.sent(), wire.connections
    assert answer.status_code == 201
    assert not [line for line in sent if "BEGIN" in line or "COMMIT" in line], sent
    assert len([line for line in sent if "\tExecute\t" in line]) == 2, sent
    assert all(connection.autocommit is False for connection in connections)
    with WireTrace(engine) as wire:
        refused = client.post(path)
        sent = wire.sent()
    assert refused.status_code == 429
    assert len([line for line in sent if "BEGIN" in line]) == 1, sent  # the rules' one


def test_a_heartbeat_sets_synchronous_commit_off_for_its_own_transaction(
    committing_postgres_app: Flask,
) -> None:
    """What the heartbeat's statement sets holds for its transaction, the statement itself
    in autocommit (and the request's transaction where one surrounds it), not after."""
    app = committing_postgres_app
    key, engine = _enrolled(app)
    from backend.services.devices import _HEARTBEAT_BY_KEY, Reading, record_heartbeat
    from backend.services.secrets import sha256_hex

    reading = Reading(paper_level=70, status="ok", software_version=None)
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        row = connection.execute(
            _HEARTBEAT_BY_KEY.statement,
            {
                "key_hash": sha256_hex(key),
                "reported_level": 70,
                "reported_status": "ok",
                "seen": utcnow(),
                "reported_version": None,
            },
        ).one()
        assert row.relaxed == "off"
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    with app.app_context():
        # Straight to the driver (backend/services/direct.py): the connection it used is
        # back in the pool without the setting.
        assert record_heartbeat(db.session, key, reading, now=utcnow()).dispenser.paper_level
        for _ in range(3):  # the pool's connections, whichever the session takes
            assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"
            db.session.rollback()
        # Inside a request's transaction: for that transaction.
        db.session.execute(text("SELECT 1"))
        beat = record_heartbeat(db.session, key, reading, now=utcnow())
        assert beat.dispenser.paper_level == 70
        assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "off"
        db.session.commit()
        assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"
        db.session.rollback()


@pytest.mark.postgres
def test_a_code_the_dispensers_budget_refuses_costs_its_address_nothing(
    committing_postgres_app: Flask,
) -> None:
    """Each of the endpoint's statements is its own transaction, so no rollback undoes the
    address's claim when the dispenser's budget refuses the check: it is given back instead."""
    app = committing_postgres_app
    client = app.test_client()
    with app.app_context():
        dispenser = make_dispenser(make_site())
        key = enroll(client, dispenser)["device_key"]

    def address_tat() -> int:
        with app.app_context():
            return int(db.session.scalar(select(CodeSourceBudget.tat_ms)) or 0)

    statuses = []
    for _ in range(DISPENSER_BUDGET.burst):
        wrong = client.post(
            "/api/v1/device/codes/verify", headers=auth(key), json={"code": "000000"}
        )
        statuses.append(wrong.status_code)
    assert statuses == [422] * DISPENSER_BUDGET.burst
    before = address_tat()
    refused = client.post("/api/v1/device/codes/verify", headers=auth(key), json={"code": "000000"})
    assert refused.status_code == 429
    assert address_tat() == before


def test_no_parameter_of_token_issue_in_one_statement_becomes_a_column_value() -> None:
    """As above, for every variant of token issue's one statement (quota, interval)."""
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    for variant in _build_in_one("postgresql").values():
        plain = variant.compile(dialect=dialect)
        keyed = variant.compile(dialect=dialect, column_keys=list(plain.params))
        assert keyed.string == plain.string
