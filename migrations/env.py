"""Alembic environment: runs migrations against the Flask app's database."""

from __future__ import annotations

import itertools
import logging
import random
import time
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

config = context.config
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

db = current_app.extensions["migrate"].db
target_metadata = db.metadata


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`flask db upgrade --sql`)."""
    url = db.engine.url.render_as_string(hide_password=False)
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


log = logging.getLogger("alembic.env")

# PostgreSQL's SQLSTATEs of an attempt that lost on a lock and rolled back whole: a wait
# ended by lock_timeout, and a deadlock with another transaction (detected after
# deadlock_timeout, 1 s by default: sooner than the lock timeout).
RETRIED = {"55P03": "waited too long for a table lock", "40P01": "deadlocked"}
LONGEST_PAUSE_SECONDS = 30.0


def run_migrations_online() -> None:
    """Run migrations on a live connection.

    PostgreSQL: the whole upgrade is one transaction, and each of its lock waits is
    bounded (FAIRROLL_MIGRATION_LOCK_TIMEOUT_MS). An ALTER TABLE waiting behind a long
    transaction would otherwise queue every later reader and writer of that table behind
    itself for as long as that transaction lasts; bounded, the attempt rolls back, the
    queue drains, and the upgrade tries again after a pause (1, 2, 4... 30 s, jittered)
    until FAIRROLL_MIGRATION_RETRY_SECONDS have passed, then fails the deploy. A deadlock
    with another transaction is tried again the same way.
    """

    def skip_empty(context_, revision, directives):  # type: ignore[no-untyped-def]
        # `flask db migrate` with no model change should not write an empty revision.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            log.info("No changes in schema detected.")

    options = current_app.extensions["migrate"].configure_args
    options.setdefault("process_revision_directives", skip_empty)
    if db.engine.dialect.name != "postgresql":
        _migrate(options, lock_timeout_ms=0)
        return
    settings = current_app.config
    lock_timeout_ms = settings["FAIRROLL_MIGRATION_LOCK_TIMEOUT_MS"]
    deadline = time.monotonic() + settings["FAIRROLL_MIGRATION_RETRY_SECONDS"]
    pause = 1.0
    for attempt in itertools.count(1):
        try:
            _migrate(options, lock_timeout_ms=lock_timeout_ms)
            return
        except OperationalError as error:
            why = RETRIED.get(getattr(error.orig, "sqlstate", None) or "")
            if why is None:
                raise
            waited = pause * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not secrets
            if time.monotonic() + waited > deadline:
                log.error(
                    "Migration gave up after %d attempts (the last %s; each lock wait may last"
                    " %d ms; FAIRROLL_MIGRATION_RETRY_SECONDS). Transactions open longest: %s",
                    attempt,
                    why,
                    lock_timeout_ms,
                    _longest_transactions(),
                )
                raise
        log.warning(
            "Migration attempt %d %s and rolled back; trying again in %.1f s."
            " Transactions open longest: %s",
            attempt,
            why,
            waited,
            _longest_transactions(),
        )
        time.sleep(waited)
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)


def _migrate(options: dict[str, Any], *, lock_timeout_ms: int) -> None:
    with db.engine.connect() as connection:
        if lock_timeout_ms:
            # For the connection, not one transaction: it bounds every statement however
            # the migrations split their transactions (autocommit_block, say). Such a
            # migration must be safe to run again: a retry starts it over.
            connection.exec_driver_sql(f"SET lock_timeout = {int(lock_timeout_ms)}")
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata, **options)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if lock_timeout_ms and not connection.invalidated:
                connection.rollback()
                connection.exec_driver_sql("RESET lock_timeout")  # pooled: in-process upgrades
                connection.commit()


def _longest_transactions() -> str:
    """The database's oldest open transactions (one of them holds the lock), for the log:
    process id, state and age, so an operator can find it; never their statements' text.
    Another role's sessions show only to a role with pg_read_all_stats (pg_monitor)."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT pid, coalesce(state, '?'), coalesce(application_name, ''),"
                " round(extract(epoch FROM now() - xact_start)::numeric, 1)"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND xact_start IS NOT NULL ORDER BY xact_start LIMIT 3"
            )
        ).all()
    return (
        "; ".join(
            f"pid {pid} ({state}{', ' + name if name else ''}) open {age} s"
            for pid, state, name, age in rows
        )
        or "none now"
    )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
