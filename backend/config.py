"""Configuration from the environment, validated once at start-up.

Every setting has a safe embedded default (SQLite file, local signing keys, log
notifier) so that `make run` works with nothing set. Production sets the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: set[str]) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(sorted(allowed))}, not {value!r}")
    return value


def database_url(env: Mapping[str, str], instance_path: Path) -> str:
    """Pick the database: DATABASE_URL, else DB_HOST and friends, else the embedded SQLite file."""
    url = env.get("DATABASE_URL", "").strip()
    if url:
        # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the driver named.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        if not url.startswith(("postgresql+psycopg://", "sqlite:///")):
            raise ConfigError("DATABASE_URL must be a postgresql:// or sqlite:/// URL")
        return url
    if env.get("DB_HOST"):
        missing = [n for n in ("DB_USER", "DB_PASSWORD") if not env.get(n)]
        if missing:
            raise ConfigError(f"DB_HOST is set, so {' and '.join(missing)} must be set too")
        user = quote(env["DB_USER"], safe="")
        password = quote(env["DB_PASSWORD"], safe="")
        port = _int(env, "DB_PORT", 5432, minimum=1)
        name = env.get("DB_NAME") or "fairroll"
        return f"postgresql+psycopg://{user}:{password}@{env['DB_HOST']}:{port}/{name}"
    return f"sqlite:///{instance_path / 'fairroll.db'}"


def _secret_key(env: Mapping[str, str], instance_path: Path, production: bool) -> str:
    key = env.get("SECRET_KEY", "")
    if key:
        if len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long")
        return key
    if production:
        raise ConfigError("SECRET_KEY must be set in production (FAIRROLL_ENV=production)")
    # Development: a random key kept in the instance folder, made on first run.
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_config(env: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    production = _choice(env, "FAIRROLL_ENV", "development", {"development", "production"})
    is_production = production == "production"
    config = {
        "FAIRROLL_ENV": production,
        "SECRET_KEY": _secret_key(env, instance_path, is_production),
        "SQLALCHEMY_DATABASE_URI": database_url(env, instance_path),
        # No ping before each checkout: it is a round trip on every request. A connection
        # found dead raises a disconnect error instead, which empties the whole pool, so a
        # database failover costs each process one failed request (answered 503).
        # hide_parameters: a failed statement's error never carries what the client typed.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": False,
            "pool_recycle": 1800,
            "hide_parameters": True,
        },
        # PostgreSQL only (backend/__init__.py): how long connecting may take, and how long
        # one statement and one lock wait may (0: no limit). The web server sets the last
        # two for itself (backend/gunicorn_conf.py); the jobs set their own.
        "FAIRROLL_DB_CONNECT_TIMEOUT_SECONDS": _int(
            env, "FAIRROLL_DB_CONNECT_TIMEOUT_SECONDS", 10, minimum=1
        ),
        "FAIRROLL_DB_STATEMENT_TIMEOUT_MS": _int(env, "FAIRROLL_DB_STATEMENT_TIMEOUT_MS", 0),
        "FAIRROLL_DB_LOCK_TIMEOUT_MS": _int(env, "FAIRROLL_DB_LOCK_TIMEOUT_MS", 0),
        # The load balancers' check (/startedz, backend/health.py): how often each process
        # asks the database, and how long it stays healthy after the last answer (longer
        # than a Multi-AZ failover, 1-2 minutes, so a failover replaces no task).
        "FAIRROLL_DB_PROBE_SECONDS": _int(env, "FAIRROLL_DB_PROBE_SECONDS", 15, minimum=1),
        "FAIRROLL_DB_OUTAGE_GRACE_SECONDS": _int(
            env, "FAIRROLL_DB_OUTAGE_GRACE_SECONDS", 180, minimum=2
        ),
        # `flask db upgrade` on PostgreSQL (migrations/env.py): how long one attempt may wait
        # for a table lock, and for how long in all it tries again. Shorter than the web
        # server's lock timeout (backend/gunicorn_conf.py), so requests queued behind a
        # migration that waits are served before they would time out themselves.
        "FAIRROLL_MIGRATION_LOCK_TIMEOUT_MS": _int(
            env, "FAIRROLL_MIGRATION_LOCK_TIMEOUT_MS", 2000, minimum=1
        ),
        "FAIRROLL_MIGRATION_RETRY_SECONDS": _int(env, "FAIRROLL_MIGRATION_RETRY_SECONDS", 600),
        # Bodies larger than this get 413: device batches are 500 events at most (~100 KiB).
        "MAX_CONTENT_LENGTH": _int(env, "FAIRROLL_MAX_BODY_BYTES", 256 * 1024, minimum=1024),
        "FAIRROLL_TOKEN_TTL_SECONDS": _int(env, "FAIRROLL_TOKEN_TTL_SECONDS", 120, minimum=10),
        "FAIRROLL_CODE_DIGITS": _int(env, "FAIRROLL_CODE_DIGITS", 6, minimum=6),
        # At most this many unexpired tokens per dispenser (429 with Retry-After beyond).
        "FAIRROLL_LIVE_TOKEN_CAP": _int(env, "FAIRROLL_LIVE_TOKEN_CAP", 10, minimum=1),
        "FAIRROLL_CLOCK_SKEW_SECONDS": _int(env, "FAIRROLL_CLOCK_SKEW_SECONDS", 30),
        "FAIRROLL_ENROLLMENT_TTL_HOURS": _int(env, "FAIRROLL_ENROLLMENT_TTL_HOURS", 24, minimum=1),
        "FAIRROLL_RETENTION_DAYS": _int(env, "FAIRROLL_RETENTION_DAYS", 7, minimum=1),
        "FAIRROLL_HEARTBEAT_SECONDS": _int(env, "FAIRROLL_HEARTBEAT_SECONDS", 60, minimum=5),
        "FAIRROLL_CONFIG_REFRESH_SECONDS": _int(
            env, "FAIRROLL_CONFIG_REFRESH_SECONDS", 300, minimum=10
        ),
        "FAIRROLL_SIGNING_KEY_BACKEND": _choice(
            env, "FAIRROLL_SIGNING_KEY_BACKEND", "file", {"file", "secretsmanager"}
        ),
        "FAIRROLL_SIGNING_KEY_DIR": env.get("FAIRROLL_SIGNING_KEY_DIR")
        or str(instance_path / "signing-keys"),
        "FAIRROLL_SIGNING_KEY_SECRET_ID": env.get("FAIRROLL_SIGNING_KEY_SECRET_ID", ""),
        "FAIRROLL_KEY_CACHE_SECONDS": _int(env, "FAIRROLL_KEY_CACHE_SECONDS", 60),
        "FAIRROLL_PUBLIC_URL": env.get("FAIRROLL_PUBLIC_URL", "").rstrip("/"),
        # The server address dispensers are enrolled with, when it is not the public one
        # (on AWS: their own load balancer, docs/operations.md). Empty: the public URL.
        "FAIRROLL_DEVICE_URL": env.get("FAIRROLL_DEVICE_URL", "").rstrip("/"),
        "FAIRROLL_PROXY_HOPS": _int(env, "FAIRROLL_PROXY_HOPS", 0),
        # Requests queued longer than this get 503 + Retry-After (0: never shed).
        "FAIRROLL_SHED_AFTER_MS": _int(env, "FAIRROLL_SHED_AFTER_MS", 1000),
        "FAIRROLL_SHED_RETRY_AFTER_SECONDS": _int(
            env, "FAIRROLL_SHED_RETRY_AFTER_SECONDS", 10, minimum=1
        ),
        "FAIRROLL_COOKIE_SECURE": _bool(env, "FAIRROLL_COOKIE_SECURE", is_production),
        "AWS_REGION": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "FAIRROLL_AWS_ENDPOINT_URL": env.get("FAIRROLL_AWS_ENDPOINT_URL") or None,
        **fleet_settings(env, is_production),
    }
    if config["FAIRROLL_DB_OUTAGE_GRACE_SECONDS"] < 2 * config["FAIRROLL_DB_PROBE_SECONDS"]:
        # Shorter, a single slow probe would take a healthy task out of its balancers.
        raise ConfigError(
            "FAIRROLL_DB_OUTAGE_GRACE_SECONDS must be at least twice FAIRROLL_DB_PROBE_SECONDS"
        )
    return config


def fleet_settings(env: Mapping[str, str], production: bool) -> dict[str, Any]:
    """Settings of fleet operations: notifier, alerts, exports, metrics, admin sessions."""
    notifier = _choice(env, "FAIRROLL_NOTIFIER", "log", {"log", "sns"})
    topic = env.get("FAIRROLL_SNS_TOPIC_ARN", "")
    if notifier == "sns" and not topic.startswith("arn:"):
        raise ConfigError("FAIRROLL_NOTIFIER=sns needs FAIRROLL_SNS_TOPIC_ARN (an SNS topic ARN)")
    return {
        "FAIRROLL_NOTIFIER": notifier,
        "FAIRROLL_SNS_TOPIC_ARN": topic,
        "FAIRROLL_LOW_PAPER_PERCENT": _int(env, "FAIRROLL_LOW_PAPER_PERCENT", 20),
        # 0 means three missed heartbeats.
        "FAIRROLL_OFFLINE_AFTER_SECONDS": _int(env, "FAIRROLL_OFFLINE_AFTER_SECONDS", 0),
        "FAIRROLL_REFILL_HORIZON_HOURS": _int(env, "FAIRROLL_REFILL_HORIZON_HOURS", 8, minimum=1),
        # While an incident lasts, people are reminded of it this often (minutes).
        "FAIRROLL_INCIDENT_REMINDER_MINUTES": _int(
            env, "FAIRROLL_INCIDENT_REMINDER_MINUTES", 60, minimum=1
        ),
        "FAIRROLL_VOUCHER_VALID_DAYS": _int(env, "FAIRROLL_VOUCHER_VALID_DAYS", 90, minimum=1),
        "FAIRROLL_EXPORT_BUCKET": env.get("FAIRROLL_EXPORT_BUCKET", ""),
        # Prometheus (/metrics) is always served; CloudWatch when FAIRROLL_METRICS=cloudwatch.
        "FAIRROLL_CLOUDWATCH_METRICS": _choice(
            env, "FAIRROLL_METRICS", "prometheus", {"prometheus", "cloudwatch"}
        )
        == "cloudwatch"
        or _bool(env, "FAIRROLL_CLOUDWATCH_METRICS", False),
        # When set, /metrics wants "Authorization: Bearer <this>"; in production /metrics
        # answers nobody until it is set (ECS injects it from Secrets Manager).
        "FAIRROLL_METRICS_TOKEN": _metrics_token(env),
        "FAIRROLL_LOG_FORMAT": _choice(
            env, "FAIRROLL_LOG_FORMAT", "json" if production else "text", {"json", "text"}
        ),
        # Which requests get an access line: "all", or "problems" (an error answer or a
        # slow one). Production logs problems only: the load balancers' access logs in S3
        # hold every request, and a line per request in CloudWatch would cost by the byte.
        "FAIRROLL_ACCESS_LOG": _choice(
            env, "FAIRROLL_ACCESS_LOG", "problems" if production else "all", {"all", "problems"}
        ),
        "FAIRROLL_ADMIN_SESSION_HOURS": _int(env, "FAIRROLL_ADMIN_SESSION_HOURS", 8, minimum=1),
        # Shared login-attempt counters when several backend instances run (ElastiCache).
        "FAIRROLL_REDIS_URL": _redis_url(env),
    }


def _metrics_token(env: Mapping[str, str]) -> str:
    token = env.get("FAIRROLL_METRICS_TOKEN", "").strip()
    if token and len(token) < 32:
        raise ConfigError("FAIRROLL_METRICS_TOKEN must be at least 32 characters long")
    return token


def _redis_url(env: Mapping[str, str]) -> str:
    url = env.get("FAIRROLL_REDIS_URL", "").strip()
    if url and not url.startswith(("redis://", "rediss://")):
        raise ConfigError("FAIRROLL_REDIS_URL must be a redis:// or rediss:// URL")
    return url
