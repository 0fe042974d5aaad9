"""Token issue on PostgreSQL: a token every rule allows costs two statements (the
dispenser's load, then one statement that checks the rules, claims a slot for the token's
code, inserts the token, takes the portion and claims the minimum interval); a refusal
writes nothing
and answers from the rules run one at a time, as on SQLite (the parametrized tests in
test_tokens.py check those answers on both databases); a write that fails after the
checks passed fails the statement, which undoes its other writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import event, func, select, text

from backend.extensions import db
from backend.models import AccessToken, Dispenser, LiveTokenSlot, QuotaUsage
from backend.services.quotas import visitor_hash
from tests.driver import statements_sent
from tests.factories import make_dispenser, make_site

pytestmark = pytest.mark.postgres


@dataclass
class _Sent:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0

    def requests_own(self) -> list[str]:
        """The statements but the day's secret read (about to move to an in-process cache
        in backend.services.quotas; it is no part of token issue's own statements)."""
        return [s for s in self.statements if "FROM daily_secret" not in s]


@contextmanager
def _sent(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Sent]:
    """What the request sends: its statements, through the session or straight to the
    driver; the commits and rollbacks of the session's transactions."""
    assert current_app._get_current_object() is app  # type: ignore[attr-defined]
    engine = db.engine
    db.session.close()  # the test's, which its requests share: as a request starts
    sent = _Sent()

    def commit(_connection: Any) -> None:
        sent.commits += 1

    def rollback(_connection: Any) -> None:
        sent.rollbacks += 1

    listeners = [("commit", commit), ("rollback", rollback)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        with statements_sent(monkeypatch) as statements:
            sent.statements = statements
            yield sent
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


def _steady_dispenser(policy: dict[str, Any], unrestricted: bool = False) -> Dispenser:
    """A dispenser as after its first token: its live-token slot rows exist, and the
    day's secret too (each is made once, by the first token that needs it)."""
    dispenser = make_dispenser(make_site(**policy), unrestricted=unrestricted)
    db.session.execute(
        text(
            "INSERT INTO live_token_slot (dispenser_id, slot)"
            " SELECT :dispenser, s FROM generate_series(0, 9) AS s"
        ),
        {"dispenser": dispenser.id},
    )
    visitor_hash(db.session, dispenser.site, "warm-up", now=datetime.now(UTC))
    db.session.commit()
    return dispenser


@pytest.mark.parametrize(
    ("policy", "unrestricted_dispenser"),
    [
        ({}, False),  # quota and the default minimum interval
        ({"min_interval_seconds": 0}, False),
        ({"unrestricted": True}, False),
        ({"min_interval_seconds": 0}, True),
    ],
    ids=["quota+interval", "quota", "unrestricted-site+interval", "unrestricted-dispenser"],
)
def test_a_token_every_rule_allows_is_two_statements(
    committing_postgres_app: Flask,
    policy: dict[str, Any],
    unrestricted_dispenser: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = committing_postgres_app
    with app.app_context():
        dispenser = _steady_dispenser(policy, unrestricted_dispenser)
        site = dispenser.site
        quota = not (site.unrestricted or dispenser.unrestricted)
        interval = site.min_interval_seconds > 0
        site_id, public_id = site.id, dispenser.public_id
        with _sent(app, monkeypatch) as sent:
            answer = app.test_client().post(f"/api/v1/dispensers/{public_id}/tokens", json={})
        assert answer.status_code == 201, answer.get_json()
        load, mint = sent.requests_own()  # exactly two
        assert "JOIN site" in load and "FOR UPDATE" not in load
        assert mint.startswith("WITH allowed AS")
        assert ("\nportion AS" in mint, "\npaced AS" in mint) == (quota, interval)
        assert len(sent.statements) - len(sent.requests_own()) <= 1  # the day's secret read
        assert sent.rollbacks == 0 and sent.commits == 0  # each statement its own transaction

        # What the one statement wrote: as the rules one at a time would have.
        db.session.expire_all()
        token = db.session.scalars(select(AccessToken)).one()
        assert (token.dispenser_id, token.site_id) == (dispenser.id, site_id)
        busy = db.session.scalars(
            select(LiveTokenSlot).where(LiveTokenSlot.busy_until.is_not(None))
        ).all()
        assert [(slot.dispenser_id, slot.busy_until) for slot in busy] == [
            (dispenser.id, token.expires_at)
        ]
        assert busy[0].code_hash == token.code_hash  # the slot holds the token's code
        usage = db.session.scalars(select(QuotaUsage)).all()
        assert [(u.site_id, u.portions, u.last_token_id) for u in usage] == (
            [(site_id, 1, token.id)] if quota else []
        )
        stored = db.session.get(Dispenser, dispenser.id)  # ``dispenser`` left the session
        assert stored is not None and stored.site_id == site_id  # nothing else changed
        assert stored.last_issued_at == (token.issued_at if interval else None)


def test_a_refusal_writes_nothing_and_answers_from_the_rules_one_at_a_time(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = committing_postgres_app
    with app.app_context():
        dispenser = _steady_dispenser({"min_interval_seconds": 0})
        client = app.test_client()  # one visitor (its cookie)
        path = f"/api/v1/dispensers/{dispenser.public_id}/tokens"
        assert client.post(path, json={}).status_code == 201
        with _sent(app, monkeypatch) as sent:
            # The one statement's check of the quota says no: it writes nothing.
            refused = client.post(path, json={})
        assert refused.status_code == 429
        assert refused.get_json()["error"]["code"] == "quota_exhausted"
        assert 500 <= int(refused.headers["Retry-After"]) <= 541
        own = sent.requests_own()
        assert "JOIN site" in own[0]
        assert own[1].startswith("WITH allowed AS")
        assert "JOIN site" in own[2]  # loaded again after the rollback, as it is now
        assert own[3].startswith("SELECT EXISTS")  # the rules one at a time: code held?
        assert sent.rollbacks >= 1 and sent.commits == 0

        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(AccessToken)) == 1
        busy = db.session.scalar(
            select(func.count())
            .select_from(LiveTokenSlot)
            .where(LiveTokenSlot.busy_until.is_not(None))
        )
        assert busy == 1  # the refused attempt holds no slot
        assert db.session.scalars(select(QuotaUsage.portions)).all() == [1]


def test_a_write_that_fails_after_the_checks_passed_undoes_the_whole_statement(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction holds every free slot row (as concurrent mints at the dispenser
    would): the statement's check sees free slots, its claim skips the locked rows and gets
    none, so the statement fails (tokens.RACED) and nothing of it stays: no token, no
    portion, no interval. The rules one at a time then refuse with 429."""
    from backend.services import tokens

    app = committing_postgres_app
    with app.app_context():
        dispenser = _steady_dispenser({})
        dispenser_id, path = dispenser.id, f"/api/v1/dispensers/{dispenser.public_id}/tokens"
        engine = db.engine
    raced: list[bool] = []
    in_one = tokens._issue_in_one

    def watched(*args: Any, **kwargs: Any) -> object:
        issued = in_one(*args, **kwargs)
        raced.append(issued is None)
        return issued

    monkeypatch.setattr(tokens, "_issue_in_one", watched)
    with engine.connect() as holder:
        holder.execute(
            text("SELECT slot FROM live_token_slot WHERE dispenser_id = :d FOR UPDATE"),
            {"d": dispenser_id},
        )
        answer = app.test_client().post(path, json={})
        holder.rollback()
    assert raced == [True]
    assert answer.status_code == 429, answer.get_json()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccessToken)) == 0
        assert db.session.scalar(select(func.count()).select_from(QuotaUsage)) == 0
        assert db.session.get(Dispenser, dispenser_id).last_issued_at is None  # type: ignore[union-attr]
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(LiveTokenSlot)
                .where(LiveTokenSlot.busy_until.is_not(None))
            )
            == 0
        )


def test_a_dispenser_switched_off_after_its_load_gets_no_token(
    committing_postgres_app: Flask,
) -> None:
    """The statement checks the dispenser can dispense on its own snapshot, and the rules
    one at a time load it again: a dispenser switched off between the load and the mint
    is refused, and nothing is written."""
    from backend.errors import DispenserUnavailable
    from backend.services.sites import find_dispenser_to_issue
    from backend.services.tokens import TokenSettings, issue_token
    from backend.signing import key_ring

    app = committing_postgres_app
    with app.app_context():
        dispenser = _steady_dispenser({})
        loaded = find_dispenser_to_issue(db.session, dispenser.public_id)
        db.session.execute(
            text("UPDATE dispenser SET enabled = false WHERE id = :d"), {"d": dispenser.id}
        )
        db.session.commit()
        with pytest.raises(DispenserUnavailable):
            issue_token(
                db.session,
                loaded,
                visitor_id="late",
                presence_code=None,
                ring=key_ring(app),
                code_key=b"k" * 32,
                settings=TokenSettings(),
                now=datetime.now(UTC),
            )
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(AccessToken)) == 0
        assert db.session.scalar(select(func.count()).select_from(QuotaUsage)) == 0
