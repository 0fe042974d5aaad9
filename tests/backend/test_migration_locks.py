"""`flask db upgrade` on PostgreSQL, as the deploy's migration task runs it: each attempt
waits a bounded time for a table lock (so the requests queued behind it are served), then
rolls back whole, names the transactions open longest, and tries again until its budget
is spent (migrations/env.py)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from backend import MIGRATIONS_DIR, create_app
from backend.extensions import db
from tests.conftest import TEST_SECRET, app_config, fresh_postgres_database
from tests.device.backend_process import ROOT

pytestmark = pytest.mark.postgres

SCRIPTS = ScriptDirectory(str(MIGRATIONS_DIR))
HEAD = SCRIPTS.get_current_head()
PREVIOUS = SCRIPTS.get_revision(HEAD).down_revision


@pytest.fixture
def one_migration_behind(tmp_path: Path) -> Iterator[str]:
    """A database migrated up to the revision before the newest: what a deploy finds."""
    with fresh_postgres_database() as url:
        app = create_app(app_config(url, tmp_path / "keys"))
        with app.app_context():
            upgrade(revision=str(PREVIOUS))
            db.engine.dispose()
        yield url


def _driver_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _holding_every_table(url: str) -> psycopg.Connection:
    """Another connection whose open transaction has read every table (a long report, a
    job): its share locks conflict with any ALTER TABLE, and with the version row's update
    too, so whatever the newest migration does, it has to wait."""
    other = psycopg.connect(_driver_url(url))
    tables = [
        row[0]
        for row in other.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    assert "alembic_version" in tables
    other.execute(
        f"LOCK TABLE {', '.join(t for t in tables if t != 'alembic_version')} IN ACCESS SHARE MODE"
    )
    other.execute("LOCK TABLE alembic_version IN SHARE MODE")
    return other


class Upgrade:
    """`flask --app app db upgrade` in its own process, its output read line by line."""

    def __init__(self, url: str, folder: Path, **settings: str) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FAIRROLL_DB_", "FAIRROLL_MIGRATION_"))
        }
        env.update(
            PYTHONPATH=str(ROOT),
            DATABASE_URL=url,
            SECRET_KEY=TEST_SECRET,
            FAIRROLL_INSTANCE_PATH=str(folder),
            FAIRROLL_SIGNING_KEY_DIR=str(folder / "keys"),
            **settings,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for_line(self, fragment: str, seconds: float = 60) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.output.append(line)
            if fragment in line:
                return line
        raise AssertionError(f"no line with {fragment!r} in:\n{''.join(self.output)}")

    def finish(self, seconds: float = 120) -> int:
        """Wait for the exit code; then every line is in ``output``."""
        code = self.process.wait(timeout=seconds)
        self.reader.join(timeout=10)  # it reads to the end of the output
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.finish()
        assert self.process.stdout is not None
        self.process.stdout.close()


def _version(url: str) -> str:
    with psycopg.connect(_driver_url(url)) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        assert row is not None
        return str(row[0])


def test_a_migration_behind_a_long_transaction_lets_the_queue_through_and_tries_again(
    one_migration_behind: str, tmp_path: Path
) -> None:
    url = one_migration_behind
    blocker = _holding_every_table(url)
    run = Upgrade(url, tmp_path, FAIRROLL_MIGRATION_LOCK_TIMEOUT_MS="200")
    try:
        line = run.wait_for_line("trying again")
        # The log names the transaction that holds the lock, for the operator to find.
        assert f"pid {blocker.info.backend_pid} " in line
        # Readers and writers queued behind the waiting migration are served: without
        # its lock timeout it would wait for the blocker, and they behind it, for ever.
        with psycopg.connect(_driver_url(url), autocommit=True) as reader:
            reader.execute("SET lock_timeout = '5s'")
            for table in ("dispenser", "hourly_count", "device_event"):
                reader.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
        assert _version(url) == PREVIOUS  # every attempt so far rolled back whole
        blocker.rollback()
        assert run.finish() == 0, "".join(run.output)
    finally:
        blocker.close()
        run.stop()
    assert _version(url) == HEAD


def test_a_migration_that_never_gets_its_lock_fails_the_deploy_and_changes_nothing(
    one_migration_behind: str, tmp_path: Path
) -> None:
    url = one_migration_behind
    blocker = _holding_every_table(url)
    run = Upgrade(
        url,
        tmp_path,
        FAIRROLL_MIGRATION_LOCK_TIMEOUT_MS="100",
        FAIRROLL_MIGRATION_RETRY_SECONDS="3",
    )
    try:
        code = run.finish()
    finally:
        blocker.close()
        run.stop()
    output = "".join(run.output)
    assert code != 0, output
    assert "Migration gave up after" in output
    assert "trying again" in output  # it did try more than once
    assert _version(url) == PREVIOUS


def test_an_upgrade_in_process_leaves_no_limit_on_the_pooled_connection(
    one_migration_behind: str, tmp_path: Path
) -> None:
    """The tests and `make run` upgrade in the app's own process, then serve from its pool."""
    app = create_app(app_config(one_migration_behind, tmp_path / "keys"))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:  # the one the upgrade used, back in the pool
            assert db.engine.pool.checkedout() == 1 and db.engine.pool.checkedin() == 0
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
        db.engine.dispose()
    assert _version(one_migration_behind) == HEAD


def test_the_migration_waits_for_a_lock_less_than_a_web_request_does(tmp_path: Path) -> None:
    """A request queued behind a waiting migration waits at most the migration's lock
    timeout, so it is served before its own lock timeout would answer 503."""
    from backend import gunicorn_conf
    from backend.config import load_config

    defaults = load_config({}, tmp_path)
    web = int(gunicorn_conf.WEB_DATABASE_LIMITS["FAIRROLL_DB_LOCK_TIMEOUT_MS"])
    assert 0 < defaults["FAIRROLL_MIGRATION_LOCK_TIMEOUT_MS"] < web
    assert defaults["FAIRROLL_MIGRATION_RETRY_SECONDS"] > 0
