"""Races on real PostgreSQL: 8 threads x 200 trials; zero double redemptions or overshoots.

Each thread has its own connection and transaction, as concurrent requests would.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Dispenser
from backend.services.sites import SitePolicy, create_dispenser, create_site
from backend.services.tokens import TokenSettings, issue_token, redeem_by_code
from backend.signing import key_ring

THREADS = 8
TRIALS = 200
CODE_KEY = b"k" * 32

# Thousands of concurrent transactions are the point: slow by nature.
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _setup(app: Flask, policy: SitePolicy, dispensers: int) -> tuple[int, list[int]]:
    with app.app_context():
        now = datetime.now(UTC)
        site = create_site(db.session, f"race {secrets.token_hex(3)}", now=now, policy=policy)
        ids = [create_dispenser(db.session, site, now=now).id for _ in range(dispensers)]
        db.session.commit()
        return site.id, ids


def _race(app: Flask, attempt: Callable[[Session, int], bool]) -> list[int]:
    """Run ``attempt`` in 8 threads at once, TRIALS times; return the successes per trial."""
    with app.app_context():
        engine = db.engine
    barrier = threading.Barrier(THREADS)
    results: list[int] = []

    def one(trial: int) -> bool:
        with Session(engine) as session:
            barrier.wait()
            try:
                ok = attempt(session, trial)
                session.commit()
                return ok
            except DomainError:
                session.rollback()
                return False

    with ThreadPoolExecutor(THREADS) as pool:
        for trial in range(TRIALS):
            results.append(sum(pool.map(one, [trial] * THREADS)))
    return results


def _issue(
    app: Flask, session: Session, dispenser_id: int, visitor: str, now: datetime | None = None
) -> Any:
    with app.app_context():
        ring = key_ring(app)
    dispenser = session.get(Dispenser, dispenser_id)
    assert dispenser is not None
    return issue_token(
        session,
        dispenser,
        visitor_id=visitor,
        presence_code=None,
        ring=ring,
        code_key=CODE_KEY,
        # These races are about quotas: the live-token cap (its own race test) stays out.
        settings=TokenSettings(live_cap=4 * TRIALS),
        now=now or datetime.now(UTC),
    )


def test_typed_code_race_never_redeems_twice(committing_postgres_app: Flask) -> None:
    app = committing_postgres_app
    _, (dispenser_id,) = _setup(
        app, SitePolicy(window_seconds=0, daily_cap=1000, min_interval_seconds=0), 1
    )
    codes = []
    with app.app_context():
        for trial in range(TRIALS):
            session = db.session()
            codes.append(_issue(app, session, dispenser_id, f"v{trial}").code)
            session.commit()

    def attempt(session: Session, trial: int) -> bool:
        dispenser = session.get(Dispenser, dispenser_id)
        assert dispenser is not None
        redeemed = redeem_by_code(
            session, dispenser, codes[trial], code_key=CODE_KEY, now=datetime.now(UTC)
        )
        return redeemed is not None

    results = _race(app, attempt)
    assert results == [1] * TRIALS, f"double redemptions in {sum(r > 1 for r in results)} trials"


def test_issuance_race_never_overshoots_the_window(committing_postgres_app: Flask) -> None:
    app = committing_postgres_app
    _, dispenser_ids = _setup(
        app, SitePolicy(window_seconds=540, daily_cap=8, min_interval_seconds=0), THREADS
    )

    def attempt(session: Session, trial: int) -> bool:
        # The same visitor on 8 dispensers of one site at once: exactly one portion.
        dispenser_id = dispenser_ids[threading.get_ident() % THREADS]
        _issue(app, session, dispenser_id, f"visitor-{trial}")
        return True

    results = _race(app, attempt)
    assert results == [1] * TRIALS, f"overshoots in {sum(r > 1 for r in results)} trials"


def test_issuance_race_never_overshoots_the_daily_cap(committing_postgres_app: Flask) -> None:
    app = committing_postgres_app
    _, (dispenser_id,) = _setup(
        app, SitePolicy(window_seconds=0, daily_cap=3, min_interval_seconds=0), 1
    )
    start = datetime.now(UTC)

    def attempt(session: Session, trial: int) -> bool:
        # One time for all requests of a trial. Each thread reading its own clock would let
        # a request whose time is earlier than a committed portion's be refused by the
        # zero-length window (last portion <= now): that measures thread scheduling on a
        # loaded machine, not the cap this test is about.
        _issue(app, session, dispenser_id, f"capped-{trial}", start + timedelta(seconds=trial))
        return True

    results = _race(app, attempt)
    assert results == [3] * TRIALS, f"cap overshoots in {sum(r > 3 for r in results)} trials"


def test_qr_report_typed_code_and_refusals_of_one_token_redeem_it_once(
    committing_postgres_app: Flask,
) -> None:
    """What the phone is told rests on this: one redemption, whatever arrives at once."""
    from backend.services.token_status import GIVEN, token_outcome
    from backend.services.tokens import mark_redeemed_by_qr, note_refusal
    from protocol.token import parse_token, token_ref

    app = committing_postgres_app
    _, (dispenser_id,) = _setup(
        app, SitePolicy(window_seconds=0, daily_cap=1000, min_interval_seconds=0), 1
    )
    issued = []
    with app.app_context():
        for trial in range(TRIALS):
            session = db.session()
            issued.append(_issue(app, session, dispenser_id, f"w{trial}"))
            session.commit()
    refs = [token_ref(parse_token(i.token)[0].token_id) for i in issued]

    def attempt(session: Session, trial: int) -> bool:
        dispenser = session.get(Dispenser, dispenser_id)
        assert dispenser is not None
        now = datetime.now(UTC)
        # Threads are named "..._0" to "..._7": a mix of the three kinds of report per trial.
        slot = int(threading.current_thread().name.rsplit("_", 1)[-1]) % 4
        if slot == 0:
            note_refusal(session, refs[trial], "wrong_dispenser")
            return False
        if slot == 1:
            code = issued[trial].code
            return redeem_by_code(session, dispenser, code, code_key=CODE_KEY, now=now) is not None
        return mark_redeemed_by_qr(session, dispenser, refs[trial], redeemed_at=now)

    results = _race(app, attempt)
    assert results == [1] * TRIALS, f"double redemptions in {sum(r > 1 for r in results)} trials"
    with app.app_context():
        dispenser = db.session.get(Dispenser, dispenser_id)
        assert dispenser is not None
        states = {
            token_outcome(
                db.session,
                dispenser,
                ref,
                offline=False,
                clock_skew=TokenSettings().clock_skew,
                now=datetime.now(UTC),
            ).state
            for ref in refs
        }
    assert states == {GIVEN}
