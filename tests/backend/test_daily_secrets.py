"""The day's secret behind visitor and source hashes: one per day, cached per process only
as far as the database keeps it, never from a transaction that rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from backend.extensions import db
from backend.models import DailySecret
from backend.services.purge import purge_expired
from backend.services.quotas import daily_secret
from tests.driver import statements_sent

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _statements(session: Session) -> list[str]:
    """What ``session`` sends from now on (through itself: a test's session, which is in
    a transaction, sends nothing straight to the driver)."""
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def _stored(session: Session, day: object) -> bytes | None:
    found = session.scalar(select(DailySecret.secret).where(DailySecret.day == day))
    return None if found is None else bytes(found)


@pytest.mark.postgres
def test_a_secret_from_a_rolled_back_first_issuance_is_never_used(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = NOW.date()
    with committing_postgres_app.app_context():
        engine = db.engine
    with Session(engine) as first:
        abandoned = daily_secret(first, day, now=NOW)  # inserted by this transaction ...
        first.rollback()  # ... which then fails (say, the visitor's quota was spent)
    with Session(engine) as second:
        kept = daily_secret(second, day, now=NOW)
        second.commit()
        assert _stored(second, day) == kept
    assert kept != abandoned
    with Session(engine) as third, statements_sent(monkeypatch) as seen:
        assert daily_secret(third, day, now=NOW) == kept  # read as committed: cached
        assert daily_secret(third, day, now=NOW) == kept
        assert len(seen) == 1  # then known: no statement at all


def test_the_cache_forgets_a_day_when_the_purge_may_delete_it(app: Flask) -> None:
    old_day = NOW.date()
    secret = daily_secret(db.session, old_day, now=NOW)
    db.session.commit()
    assert daily_secret(db.session, old_day, now=NOW) == secret  # now cached

    two_days_on = NOW + timedelta(days=2)
    purge_expired(db.session, now=two_days_on, retention=timedelta(days=7))
    assert _stored(db.session, old_day) is None
    today = two_days_on.date()
    daily_secret(db.session, today, now=two_days_on)  # a request of the new day
    db.session.commit()
    seen = _statements(db.session)
    # Asked again for the purged day (nothing does that in the app), the cache no longer
    # has it: it goes to the database, which makes a new, unrelated secret.
    assert daily_secret(db.session, old_day, now=two_days_on) != secret
    assert seen, "the purged day was answered from the process's memory"
