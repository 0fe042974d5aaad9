"""Shared fixtures: the app on SQLite and on PostgreSQL, schema built by the migrations.

Each test using ``app`` runs inside a transaction that is rolled back afterwards.
PostgreSQL tests skip where no server answers, unless FAIRROLL_REQUIRE_POSTGRES=1
(set by .ci/run), which turns the skip into a failure (tests/require.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import scoped_session, sessionmaker

# Keep the developer's environment out of the tests: the instance folder (dev secret key,
# dev signing keys) goes to a temporary place, and no real AWS endpoint is ever used.
os.environ["FAIRROLL_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="fairroll-test-instance-")
for _name in ("DATABASE_URL", "DB_HOST", "SECRET_KEY", "FAIRROLL_ENV"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from argon2 import PasswordHasher  # noqa: E402

from backend import create_app  # noqa: E402  (after the environment is cleaned)
from backend.extensions import db  # noqa: E402
from backend.health import PROBE  # noqa: E402
from backend.services.operators import use_password_hasher  # noqa: E402
from backend.services.quotas import forget_daily_secrets  # noqa: E402

# Argon2 at its cheapest: a login costs microseconds instead of a quarter second (seconds on
# a loaded machine). The production parameters are asserted once, in a separate process
# (tests/backend/test_password_parameters.py).
use_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

# One Playwright (and one Chromium) for the whole session: Playwright's sync API allows only
# one running instance at a time, so page tests of every package share these fixtures.
from tests.browser import browser, browser_page  # noqa: E402, F401
from tests.databases import fresh_database  # noqa: E402
from tests.require import unavailable  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "FAIRROLL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_SECRET = "test-secret-key-" + "x" * 40


def app_config(database_url: str, key_dir: Path, **extra: Any) -> dict[str, Any]:
    """The config overrides every test app uses."""
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "FAIRROLL_SIGNING_KEY_DIR": str(key_dir),
        "FAIRROLL_PUBLIC_URL": "http://fairroll.test",
        **extra,
    }


def _migrated_app(database_url: str, key_dir: Path) -> Flask:
    from flask_migrate import upgrade

    app = create_app(app_config(database_url, key_dir))
    with app.app_context():
        upgrade()
    return app


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """An empty PostgreSQL database on the test server, dropped afterwards; the test is
    skipped, or failed where PostgreSQL is required, if the server is unreachable."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(fresh_database(POSTGRES_ADMIN_URL))
        except OperationalError as exc:
            host = make_url(POSTGRES_ADMIN_URL).host
            unavailable("POSTGRES", f"PostgreSQL not reachable at {host}: {exc.orig}")
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test run; dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


def _disposed(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_app(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on PostgreSQL, schema made by the migrations."""
    app = _migrated_app(postgres_url, tmp_path_factory.mktemp("keys-pg"))
    yield app
    _disposed(app)


@pytest.fixture(scope="session")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on the embedded SQLite default, schema made by the migrations."""
    folder = tmp_path_factory.mktemp("sqlite")
    app = _migrated_app(f"sqlite:///{folder / 'fairroll.db'}", folder / "keys")
    yield app
    _disposed(app)


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def migrated_app(request: pytest.FixtureRequest) -> Flask:
    """The app on each supported database in turn."""
    app: Flask = request.getfixturevalue(f"{request.param}_app")
    return app


@pytest.fixture
def app(migrated_app: Flask) -> Iterator[Flask]:
    """The app with every database change of the test rolled back afterwards."""
    with migrated_app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        # Handlers "commit" into savepoints of the outer transaction, which is rolled back.
        factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        db.session = scoped_session(factory, scopefunc=_app_ctx_id)
        try:
            yield migrated_app
        finally:
            stop_database_probe(migrated_app)
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()


def stop_database_probe(app: Flask) -> None:
    """A test that asked /startedz started the app's probe thread: it must not go on
    asking the database through the shared app's pool during later tests."""
    probe = app.extensions.pop(PROBE, None)
    if probe is not None:
        probe.stop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the rolled-back app."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner of the rolled-back app."""
    return app.test_cli_runner()


@pytest.fixture
def committing_postgres_app(postgres_app: Flask) -> Iterator[Flask]:
    """The PostgreSQL app with real commits (for races); every table emptied afterwards."""
    yield postgres_app
    stop_database_probe(postgres_app)
    with postgres_app.app_context():
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
    forget_daily_secrets()  # the process's cache of rows just emptied


def pytest_configure(config: pytest.Config) -> None:
    """Compile the translation catalogs when missing or older than their .po (git-ignored)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in Path(__file__).parents[1].glob("backend/translations/*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source)
        # Write aside, then rename: several test processes (pytest-xdist) may race here.
        partial = mo.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as target:
            write_mo(target, catalog)
        os.replace(partial, mo)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for pytest-xdist (`make test` runs with --dist loadgroup).

    A test file runs on one worker, so module fixtures (a backend process, say) start
    once; the infrastructure tests share one worker, so both environments are
    synthesised once per run rather than once per worker.
    """
    root = Path(__file__).parents[1]
    for item in items:
        path = item.path.relative_to(root)
        infra = path.parts[:2] == ("tests", "infra")
        item.add_marker(pytest.mark.xdist_group("tests/infra" if infra else path.as_posix()))
        if "synthesis" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)  # a CDK synthesis comes first: slow by nature


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Where FAIRROLL_REQUIRE_NO_SKIPS=1 (.ci/run sets it), any skipped test fails the run.

    The REQUIRE switches name the parts a test may miss; this catches every other skip
    (a new one, a missing package behind importorskip) before it can hide in a green run.
    """
    if os.environ.get("FAIRROLL_REQUIRE_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.ensure_newline()
        reporter.write_line(
            f"FAIRROLL_REQUIRE_NO_SKIPS=1: {len(skipped)} test(s) skipped; see the summary above",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
