"""The fairroll backend: a Flask application built by :func:`create_app`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from backend.config import load_config
from backend.extensions import db, migrate
from backend.http_errors import register_error_handlers
from backend.signing import CachedKeyRing, make_key_store

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, overridden by ``test_config`` in tests."""
    app = Flask(__name__, instance_relative_config=True)
    instance = Path(os.environ.get("FAIRROLL_INSTANCE_PATH") or app.instance_path)
    app.config.from_mapping(load_config(os.environ, instance))
    if test_config:
        app.config.from_mapping(test_config)

    _configure_proxy(app)
    _configure_logging(app)
    _configure_database_limits(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    app.extensions["fairroll.keys"] = CachedKeyRing(
        make_key_store(app), ttl=app.config["FAIRROLL_KEY_CACHE_SECONDS"]
    )
    register_error_handlers(app)
    from backend import request_guards

    request_guards.init_app(app)  # before the blueprints: their int routes use its converter
    from backend import security_headers

    security_headers.init_app(app)
    from backend import static_files

    static_files.init_app(app)

    from backend import api, cli, health

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    from backend import visitor  # the visitor's pages, translations and page security

    visitor.init_app(app)
    cli.init_app(app)
    _init_fleet(app)
    _configure_shedding(app)
    return app


def _configure_shedding(app: Flask) -> None:
    """Outermost middleware: shed requests that queued too long before any other work."""
    max_wait_ms = app.config["FAIRROLL_SHED_AFTER_MS"]
    if not max_wait_ms:
        return
    from backend.metrics import request_counter
    from backend.shedding import LoadShedder

    counter = request_counter(app)
    app.wsgi_app = LoadShedder(  # type: ignore[method-assign]
        app.wsgi_app,
        max_wait=max_wait_ms / 1000,
        retry_after=app.config["FAIRROLL_SHED_RETRY_AFTER_SECONDS"],
        on_shed=lambda: counter.add("shed", 503),
    )


def _init_fleet(app: Flask) -> None:
    """Fleet operations: admin UI, metrics endpoint, request ids and JSON logs."""
    from backend import admin, logs, metrics

    admin.init_app(app)
    app.register_blueprint(metrics.bp)
    logs.init_app(app)


# libpq's TCP settings: keepalives find an idle connection whose server vanished without
# a reset (a failover's old host) in about a minute, not the kernel's two hours; the user
# timeout ends a statement sent to such a server after 30 s of unacknowledged data,
# instead of the kernel's ~15 minutes of retransmissions.
TCP_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def _configure_database_limits(app: Flask) -> None:
    """PostgreSQL: every connection gets the configured connect timeout (libpq waits for
    ever by default, so an unreachable host would hold a thread for minutes) and, when
    set, a statement and a lock timeout (a request stuck behind a lock answers 503 and
    frees its thread instead of waiting as long as the lock is held)."""
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args["connect_timeout"] = app.config["FAIRROLL_DB_CONNECT_TIMEOUT_SECONDS"]
    connect_args.update(TCP_SETTINGS)
    settings = [
        f"-c {name}={milliseconds}"
        for name, milliseconds in (
            ("statement_timeout", app.config["FAIRROLL_DB_STATEMENT_TIMEOUT_MS"]),
            ("lock_timeout", app.config["FAIRROLL_DB_LOCK_TIMEOUT_MS"]),
        )
        if milliseconds
    ]
    if settings:
        connect_args["options"] = " ".join(settings)
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _configure_proxy(app: Flask) -> None:
    hops = app.config["FAIRROLL_PROXY_HOPS"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )


def _configure_logging(app: Flask) -> None:
    # Never log request bodies: they may hold tokens, codes or keys.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite: enforce foreign keys, write-ahead log, and wait rather than fail on locks."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see below);
    # the module's own implicit transactions break SAVEPOINTs.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection: Any) -> None:
    """SQLite: take the write lock when a transaction starts.

    A deferred transaction that reads and then writes can fail at once with "database is
    locked" when another writer got in between; an immediate one waits its turn instead.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
