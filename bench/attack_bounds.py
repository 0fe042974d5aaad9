"""Benchmark: what a patient attacker gets from the security rules, on the real services.

Usage:
    .venv/bin/python bench/attack_bounds.py                 # embedded SQLite (temp file)
    .venv/bin/python bench/attack_bounds.py postgresql+psycopg://postgres@127.0.0.1/test

An attacker who never stops, one attempt a second (every 10 s for the day) of a
simulated clock (passed in, as every service takes ``now``), against one account or one
dispenser at the default settings. Prints, for a simulated hour and day:

- wrong passwords evaluated for one operator account (the rest are refused unchecked),
- wrong typed codes checked at one dispenser, while the attacker also redeems one of
  their own tokens every minute (a success never refills the budget),
- tokens minted for one dispenser by a client that drops its cookie every time, at the
  default policy and with the site's minimum interval off (the live-token cap binds).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAIRROLL_INSTANCE_PATH", tempfile.mkdtemp(prefix="fairroll-bench-"))

from argon2 import PasswordHasher  # noqa: E402
from flask_migrate import downgrade, upgrade  # noqa: E402

from backend import create_app  # noqa: E402
from backend.errors import DomainError  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import Dispenser  # noqa: E402
from backend.services import operators  # noqa: E402
from backend.services.codes import verify_typed_code  # noqa: E402
from backend.services.operators import check_password, create_operator  # noqa: E402
from backend.services.sites import SitePolicy, create_dispenser, create_site  # noqa: E402
from backend.services.tokens import TokenSettings, issue_token  # noqa: E402
from backend.signing import key_ring  # noqa: E402

CODE_KEY = b"bench typed codes".ljust(32, b".")
START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HOUR, DAY = 3600, 86_400
# One attempt a second for the hour; one every 10 s for the day (faster than any bound).
STEP = {HOUR: 1, DAY: 10}


def _count(
    seconds: int, attempt: Callable[[datetime, int], bool], *, keep_refusals: bool = False
) -> int:
    """Call ``attempt(now, second)`` every STEP simulated seconds; count the Trues.

    A refusal (DomainError) is committed or rolled back as its HTTP handler does.
    """
    done = 0
    for second in range(0, seconds, STEP[seconds]):
        try:
            done += attempt(START + timedelta(seconds=second), second)
            db.session.commit()
        except DomainError:
            if keep_refusals:
                db.session.commit()  # the login views commit: a failure counts
            else:
                db.session.rollback()
    return done


def passwords(seconds: int) -> int:
    """Wrong passwords evaluated for one account."""
    email = f"target{seconds}@city.example"
    create_operator(db.session, email, "a long enough password", role="admin", now=START)
    db.session.commit()

    def attempt(now: datetime, _second: int) -> bool:
        try:
            check_password(db.session, email, "a wrong guess!", now=now)
        except operators.LoginFailed:
            return True  # evaluated (and wrong)
        return False

    return _count(seconds, attempt, keep_refusals=True)


def _dispenser(name: str, policy: SitePolicy) -> int:
    site = create_site(db.session, name, now=START, policy=policy)
    dispenser_id = create_dispenser(db.session, site, now=START).id
    db.session.commit()
    return dispenser_id


def typed_codes(seconds: int, ring: object) -> int:
    """Wrong typed codes checked at one dispenser; the attacker's own code each minute."""
    dispenser_id = _dispenser(f"codes {seconds}", SitePolicy(window_seconds=0, daily_cap=1000))

    def attempt(now: datetime, second: int) -> bool:
        dispenser = db.session.get(Dispenser, dispenser_id)
        assert dispenser is not None
        if second % 60 == 30:  # redeem one of one's own tokens, hoping to refill the budget
            own = issue_token(
                db.session,
                dispenser,
                visitor_id=f"own-{second}",
                presence_code=None,
                ring=ring,  # type: ignore[arg-type]
                code_key=CODE_KEY,
                settings=TokenSettings(),
                now=now,
            )
            verify_typed_code(db.session, dispenser, own.code, code_key=CODE_KEY, now=now)
            return False
        wrong = "0000000000"  # no token or voucher has it
        result = verify_typed_code(
            db.session, dispenser, wrong, code_key=CODE_KEY, now=now, source="203.0.113.9"
        )
        return result.kind is None

    return _count(seconds, attempt)


def minted(seconds: int, ring: object, policy: SitePolicy) -> int:
    """Tokens minted for one dispenser by a client with a new cookie every second."""
    dispenser_id = _dispenser(f"mint {seconds} {policy.min_interval_seconds}", policy)

    def attempt(now: datetime, second: int) -> bool:
        dispenser = db.session.get(Dispenser, dispenser_id)
        assert dispenser is not None
        issue_token(
            db.session,
            dispenser,
            visitor_id=f"dropped-cookie-{second}",
            presence_code=None,
            ring=ring,  # type: ignore[arg-type]
            code_key=CODE_KEY,
            settings=TokenSettings(),
            now=now,
        )
        return True

    return _count(seconds, attempt)


def main() -> None:
    """Run each attack for an hour and a day of simulated time; print the counts."""
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "b" * 48})
    # Argon2 at its cheapest: the bench counts evaluations, it does not time them.
    operators._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with app.app_context():
        upgrade()
        ring = key_ring(app)
        try:
            print(f"database: {db.engine.dialect.name}; attempts every {STEP} simulated s")
            for label, seconds in (("hour", HOUR), ("day", DAY)):
                print(f"per {label}:")
                print(f"  wrong passwords evaluated, one account:   {passwords(seconds)}")
                print(f"  wrong typed codes checked, one dispenser: {typed_codes(seconds, ring)}")
                default = minted(seconds, ring, SitePolicy())
                print(f"  tokens minted, default policy:            {default}")
                no_interval = SitePolicy(window_seconds=0, daily_cap=1000, min_interval_seconds=0)
                free = minted(seconds, ring, no_interval)
                print(f"  tokens minted, no minimum interval:       {free}")
        finally:
            db.session.rollback()
            if not url.startswith("sqlite"):
                downgrade(revision="base")


if __name__ == "__main__":
    main()
