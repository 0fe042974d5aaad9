"""Security counters under concurrency on real PostgreSQL: 16 threads x 50 trials each.

Each thread has its own connection and transaction, as concurrent requests would; a
barrier releases them together. Every test asserts the exact designed number per trial.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.errors import DomainError
from backend.extensions import db
from backend.models import AccessToken, Dispenser, Operator
from backend.services import operators
from backend.services.codes import DISPENSER_BUDGET, Budget, verify_typed_code
from backend.services.operators import (
    FREE_LOGIN_FAILURES,
    check_password,
    check_totp,
    create_operator,
)
from backend.services.sites import (
    SitePolicy,
    create_dispenser,
    create_site,
    find_dispenser_to_issue,
)
from backend.services.tokens import TokenSettings, issue_token
from backend.signing import KeyRing, key_ring

THREADS = 16
TRIALS = 50
PASSWORD = "correct horse battery staple"
CODE_KEY = b"k" * 32

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def cheap_argon2() -> Iterator[None]:
    """Argon2 at its cheapest for these tests only: the races are about counting, not cost."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            operators, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        yield


def _race(app: Flask, attempt: Callable[[Session, int, int], str]) -> list[Counter[str]]:
    """Run ``attempt(session, trial, thread)`` in 16 threads at once, TRIALS times.

    ``attempt`` returns an outcome name; a DomainError's class name is the outcome
    otherwise. Each attempt commits, even after a DomainError (as the handlers do).
    """
    with app.app_context():
        engine = db.engine
    barrier = threading.Barrier(THREADS)
    outcomes: list[Counter[str]] = []

    def one(trial: int, thread: int) -> str:
        with Session(engine) as session:
            barrier.wait()
            try:
                outcome = attempt(session, trial, thread)
            except DomainError as error:
                outcome = type(error).__name__
            session.commit()
            return outcome

    with ThreadPoolExecutor(THREADS) as pool:
        for trial in range(TRIALS):
            results = pool.map(one, [trial] * THREADS, range(THREADS))
            outcomes.append(Counter(results))
    return outcomes


def _operators(app: Flask) -> list[int]:
    with app.app_context():
        ids = []
        for trial in range(TRIALS):
            created = create_operator(
                db.session,
                f"op{trial}-{secrets.token_hex(3)}@city.example",
                PASSWORD,
                role="admin",
                now=datetime.now(UTC),
                totp_enrolled=True,
            )
            ids.append(created.operator.id)
        db.session.commit()
        return ids


def test_concurrent_wrong_passwords_are_evaluated_at_most_the_free_count(
    committing_postgres_app: Flask,
) -> None:
    app = committing_postgres_app
    ids = _operators(app)
    with app.app_context():
        emails = [db.session.get(Operator, i).email for i in ids]  # type: ignore[union-attr]

    def attempt(session: Session, trial: int, thread: int) -> str:
        check_password(session, emails[trial], "wrong password!", now=datetime.now(UTC))
        return "accepted"

    outcomes = _race(app, attempt)
    expected = Counter(LoginFailed=FREE_LOGIN_FAILURES, LoginLocked=THREADS - FREE_LOGIN_FAILURES)
    assert all(o == expected for o in outcomes), [o for o in outcomes if o != expected][:3]
    with app.app_context():
        counts = db.session.scalars(select(Operator.failed_logins).where(Operator.id.in_(ids)))
        assert set(counts) == {FREE_LOGIN_FAILURES}


def test_one_totp_code_signs_in_exactly_one_of_many_sessions(
    committing_postgres_app: Flask,
) -> None:
    app = committing_postgres_app
    ids = _operators(app)
    moment = datetime.now(UTC)
    with app.app_context():
        secrets_ = [db.session.get(Operator, i).totp_secret for i in ids]  # type: ignore[union-attr]
    codes = [pyotp.TOTP(s).at(moment) for s in secrets_]

    def attempt(session: Session, trial: int, thread: int) -> str:
        operator = session.get(Operator, ids[trial])
        assert operator is not None
        check_totp(session, operator, codes[trial], now=moment)
        return "signed_in"

    outcomes = _race(app, attempt)
    expected = Counter(signed_in=1, TotpCodeReused=THREADS - 1)
    assert all(o == expected for o in outcomes), [o for o in outcomes if o != expected][:3]


def _dispensers(app: Flask, count: int) -> list[int]:
    with app.app_context():
        now = datetime.now(UTC)
        policy = SitePolicy(window_seconds=0, daily_cap=1000, min_interval_seconds=0)
        site = create_site(db.session, f"race {secrets.token_hex(3)}", now=now, policy=policy)
        ids = [create_dispenser(db.session, site, now=now).id for _ in range(count)]
        db.session.commit()
        return ids


def _wrong_code(
    session: Session,
    dispenser_id: int,
    source: str,
    source_budget: Budget,
    dispenser_budget: Budget = DISPENSER_BUDGET,
) -> str:
    dispenser = session.get(Dispenser, dispenser_id)
    assert dispenser is not None
    result = verify_typed_code(
        session,
        dispenser,
        "000000",
        code_key=CODE_KEY,
        now=datetime.now(UTC),
        source=source,
        source_budget=source_budget,
        dispenser_budget=dispenser_budget,
    )
    return "checked" if result.kind is None else "redeemed"


def test_concurrent_wrong_codes_at_one_dispenser_are_checked_at_most_the_burst(
    committing_postgres_app: Flask,
) -> None:
    app = committing_postgres_app
    ids = _dispensers(app, TRIALS)
    roomy = Budget(burst=1000, interval=timedelta(seconds=1))

    def attempt(session: Session, trial: int, thread: int) -> str:
        # A different address per thread: only the dispenser's budget binds.
        return _wrong_code(session, ids[trial], f"203.0.113.{thread}/{trial}", roomy)

    outcomes = _race(app, attempt)
    burst = DISPENSER_BUDGET.burst
    expected = Counter(checked=burst, TooManyAttempts=THREADS - burst)
    assert all(o == expected for o in outcomes), [o for o in outcomes if o != expected][:3]


def test_concurrent_wrong_codes_from_one_source_are_checked_at_most_its_burst(
    committing_postgres_app: Flask,
) -> None:
    app = committing_postgres_app
    ids = _dispensers(app, THREADS)
    source_budget = Budget(burst=10, interval=timedelta(minutes=1))

    def attempt(session: Session, trial: int, thread: int) -> str:
        # One address at 16 dispensers at once (a fresh address each trial): the dispensers'
        # budgets are roomy here, so only the address's burst binds.
        roomy = Budget(burst=1000, interval=timedelta(seconds=1))
        return _wrong_code(session, ids[thread], f"198.51.100.7/{trial}", source_budget, roomy)

    outcomes = _race(app, attempt)
    expected = Counter(checked=10, TooManyAttempts=THREADS - 10)
    assert all(o == expected for o in outcomes), [o for o in outcomes if o != expected][:3]


def _mint_at(
    app: Flask, ids: list[int], ring: KeyRing, settings: TokenSettings
) -> Callable[[Session, int, int], str]:
    """An attempt for _race: mint a token at dispenser ``ids[trial]``, one visitor a thread,
    as the token endpoint does (the dispenser loaded, then one statement for the mint; a
    refusal's rules one at a time)."""
    with app.app_context():
        rows = db.session.execute(select(Dispenser.id, Dispenser.public_id)).all()
    public_ids = {row.id: row.public_id for row in rows}

    def attempt(session: Session, trial: int, thread: int) -> str:
        dispenser = find_dispenser_to_issue(session, public_ids[ids[trial]])
        issue_token(
            session,
            dispenser,
            visitor_id=f"visitor-{trial}-{thread}",
            presence_code=None,
            ring=ring,
            code_key=CODE_KEY,
            settings=settings,
            now=datetime.now(UTC),
        )
        return "minted"

    return attempt


def test_concurrent_mints_at_one_dispenser_never_exceed_the_live_token_cap(
    committing_postgres_app: Flask,
) -> None:
    app = committing_postgres_app
    ids = _dispensers(app, TRIALS)  # no minimum interval: only the cap binds
    with app.app_context():
        ring = key_ring(app)
    settings = TokenSettings()

    outcomes = _race(app, _mint_at(app, ids, ring, settings))
    cap = settings.live_cap
    expected = Counter(minted=cap, DispenserBusy=THREADS - cap)
    assert all(o == expected for o in outcomes), [o for o in outcomes if o != expected][:3]


def test_concurrent_mints_at_one_dispenser_never_share_a_live_typed_code(
    committing_postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every draw of the typed code gives the same digits: of 16 tokens minted at once at
    one dispenser (no minimum interval, a cap of 16), exactly one gets them; the others
    find the code held by a slot (the slots' unique dispenser and code hash: a mint that
    ran at the same time waits for the first and fails), draw again, and are refused. No
    lock: the slot's claim is the one conditional write."""
    from backend.services import tokens

    app = committing_postgres_app
    ids = _dispensers(app, TRIALS)
    with app.app_context():
        ring = key_ring(app)
        # Slot rows as at any dispenser that issued before (making them would serialize
        # the first mints by itself).
        db.session.execute(
            text(
                "INSERT INTO live_token_slot (dispenser_id, slot)"
                " SELECT d, s FROM unnest(CAST(:ids AS integer[])) AS d,"
                " generate_series(0, :cap - 1) AS s"
            ),
            {"ids": ids, "cap": THREADS},
        )
        db.session.commit()
    settings = TokenSettings(live_cap=THREADS)  # the cap must not be what refuses
    monkeypatch.setattr(tokens, "numeric_code", lambda digits: "4" * digits)

    outcomes = _race(app, _mint_at(app, ids, ring, settings))
    expected = Counter(minted=1, DispenserBusy=THREADS - 1)
    assert all(o == expected for o in outcomes), [o for o in outcomes if o != expected][:3]
    with app.app_context():
        per_dispenser = db.session.execute(
            select(AccessToken.dispenser_id, func.count()).group_by(AccessToken.dispenser_id)
        ).all()
    assert sorted(per_dispenser) == sorted((i, 1) for i in ids)


def test_one_live_code_typed_at_once_is_redeemed_exactly_once(
    committing_postgres_app: Flask,
) -> None:
    """16 attempts with the same right code at once, each the one statement that PostgreSQL
    runs for a typed code (budgets and redemption together): exactly one redeems it. The
    others answer "wrong code" or, once the spent code has used up the budget, 429."""
    app = committing_postgres_app
    ids = _dispensers(app, TRIALS)
    ring, settings = key_ring(app), TokenSettings()
    with app.app_context():
        codes = []
        for dispenser_id in ids:
            dispenser = db.session.get(Dispenser, dispenser_id)
            assert dispenser is not None
            issued = issue_token(
                db.session,
                dispenser,
                visitor_id=f"visitor-{dispenser_id}",
                presence_code=None,
                ring=ring,
                code_key=CODE_KEY,
                settings=settings,
                now=datetime.now(UTC),
            )
            db.session.commit()
            codes.append(issued.code)

    def attempt(session: Session, trial: int, thread: int) -> str:
        dispenser = session.get(Dispenser, ids[trial])
        assert dispenser is not None
        result = verify_typed_code(
            session,
            dispenser,
            codes[trial],
            code_key=CODE_KEY,
            now=datetime.now(UTC),
            source=f"203.0.113.{thread}/{trial}",
        )
        return "wrong" if result.kind is None else "redeemed"

    outcomes = _race(app, attempt)
    assert all(o["redeemed"] == 1 for o in outcomes), outcomes[:3]
    assert all(set(o) <= {"redeemed", "wrong", "TooManyAttempts"} for o in outcomes)
