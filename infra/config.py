"""Per-environment settings of the AWS deployment, read from a TOML file and validated."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = Path(__file__).with_name("environments.toml")

_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_SNAPSHOT_ARN = re.compile(r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:[A-Za-z0-9:._-]+$")
_BASE_IMAGE = re.compile(r"^[a-z0-9][a-z0-9./_-]*:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$")
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
_DB_INSTANCE = re.compile(r"^[a-z0-9]+\.[a-z0-9]+$")
_PLACEHOLDER_CERTIFICATE = "certificate/00000000-0000-0000-0000-000000000000"
# The retention periods CloudWatch Logs accepts.
_LOG_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653}
# Fargate accepts only these CPU units, each with a memory range (MiB).
_FARGATE_MEMORY = {
    256: range(512, 2049),
    512: range(1024, 4097),
    1024: range(2048, 8193),
    2048: range(4096, 16385),
    4096: range(8192, 30721),
}


class ConfigError(ValueError):
    """The environments file is missing, malformed, or holds an invalid setting."""


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that differs between two deployments of the same definition."""

    name: str
    region: str
    domain_name: str
    certificate_arn: str
    # The dispensers' own hostname: a second load balancer that routes only the device
    # API and is not inspected (nor billed per request) by the web ACL. Empty: devices.
    # followed by domain_name. Its certificate: device_certificate_arn, else the one
    # above (which must then cover this name too, e.g. as a subject alternative name).
    device_domain_name: str = ""
    device_certificate_arn: str = ""
    # The image's base, pinned by digest (the Dockerfile's PYTHON_IMAGE build argument).
    base_image: str = ""
    account: str = ""
    alarm_email: str = ""
    task_cpu: int = 512
    task_memory_mib: int = 1024
    min_tasks: int = 2
    max_tasks: int = 4
    cpu_target_percent: int = 60
    # A task's requests a minute that autoscaling aims at, both load balancers together,
    # and the share of them the device one brings: each balancer's target group tracks its
    # own part (a policy sees only its own group's requests per target).
    requests_per_target_per_minute: int = 3000
    device_request_share: float = 0.45
    db_instance_type: str = "t4g.small"
    db_multi_az: bool = True
    db_allocated_storage_gib: int = 20
    db_max_allocated_storage_gib: int = 100
    db_backup_retention_days: int = 14
    deletion_protection: bool = True
    # 0: no NAT gateway; the tasks run in the public subnets with a public address each
    # (their security groups admit only the load balancers), docs/operations.md, "Costs".
    nat_gateways: int = 2
    # ECS Container Insights: per-task CPU, memory and task counts, billed as about 80
    # custom metrics (~US$25 a month). Off: the dashboard shows the load balancer's
    # healthy targets and the free AWS/ECS service metrics instead.
    container_insights: bool = False
    log_retention_days: int = 90
    purge_schedule_utc_hour: int = 3
    # The GitHub repository ("owner/name") whose deploy workflow may assume this
    # environment's deploy role through GitHub's OIDC provider; empty: no such role.
    github_repository: str = ""
    # AWS Backup: daily snapshots kept this long, each copied to backup_copy_region.
    backup_retention_days: int = 35
    backup_copy_region: str = "us-west-2"
    # The restore drill (docs/operations.md): the ARN of an RDS snapshot to run on. Set,
    # the next deploy creates a new instance from it and points the service at it.
    db_restore_snapshot: str = ""
    # Alarm when this share of the fleet is offline (the fleet job's DispensersOffline).
    offline_alarm_percent: int = 10
    # AWS Budgets: a message at 80 % of this monthly spend (actual) and at 100 % (forecast).
    monthly_budget_usd: int = 500

    @property
    def database_identifier(self) -> str:
        """The RDS instance name: a new one for each restore, so nothing is ever renamed."""
        base = f"fairroll-{self.name}"
        if not self.db_restore_snapshot:
            return base
        digest = hashlib.sha256(self.db_restore_snapshot.encode()).hexdigest()[:8]
        return f"{base}-r{digest}"

    @property
    def device_host(self) -> str:
        """The hostname dispensers are enrolled with (their server address)."""
        return self.device_domain_name or f"devices.{self.domain_name}"

    @property
    def device_certificate(self) -> str:
        """The ACM certificate of the device hostname."""
        return self.device_certificate_arn or self.certificate_arn

    @property
    def tasks_in_public_subnets(self) -> bool:
        """Whether tasks reach AWS's APIs through their own public address (no NAT)."""
        return self.nat_gateways == 0

    @property
    def needs_shared_counters(self) -> bool:
        """Whether more than one backend instance may run, so rate limits need Redis."""
        return self.max_tasks > 1

    @property
    def device_requests_per_target_per_minute(self) -> int:
        """The device target group's part of a task's requests a minute (the public one's
        is the rest)."""
        return round(self.requests_per_target_per_minute * self.device_request_share)

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that cannot work on AWS."""
        prefix = f"environment {self.name!r}:"
        if not _REGION.match(self.region):
            raise ConfigError(f"{prefix} region {self.region!r} is not an AWS region name")
        if self.account and not _ACCOUNT.match(self.account):
            raise ConfigError(f"{prefix} account must be 12 digits, got {self.account!r}")
        if not self.domain_name or "." not in self.domain_name:
            raise ConfigError(f"{prefix} domain_name must be the backend's DNS name")
        self._validate_certificate(prefix)
        if self.device_host == self.domain_name or "." not in self.device_host:
            raise ConfigError(
                f"{prefix} device_domain_name must be a DNS name other than domain_name"
            )
        if self.device_certificate_arn and (
            not _CERTIFICATE_ARN.match(self.device_certificate_arn)
            or self.device_certificate_arn.split(":")[3] != self.region
        ):
            raise ConfigError(
                f"{prefix} device_certificate_arn must be the ARN of an ACM certificate "
                f"for {self.device_host} in region {self.region}"
            )
        self._validate_base_image(prefix)
        # The production database must survive an accidental delete. Single-AZ is a
        # priced choice (docs/operations.md, "Costs"): then point-in-time recovery must
        # reach back at least a week, besides the AWS Backup copies in a second region.
        if self.name == "production" and not self.deletion_protection:
            raise ConfigError(f"{prefix} needs deletion_protection")
        if self.name == "production" and not self.db_multi_az and self.db_backup_retention_days < 7:
            raise ConfigError(f"{prefix} single-AZ needs db_backup_retention_days of at least 7")
        if self.alarm_email and "@" not in self.alarm_email:
            raise ConfigError(f"{prefix} alarm_email {self.alarm_email!r} is not an address")
        memory = _FARGATE_MEMORY.get(self.task_cpu)
        if memory is None:
            raise ConfigError(f"{prefix} task_cpu must be one of {sorted(_FARGATE_MEMORY)}")
        if self.task_memory_mib not in memory or self.task_memory_mib % 1024 not in (0, 512):
            raise ConfigError(
                f"{prefix} task_memory_mib {self.task_memory_mib} does not fit task_cpu "
                f"{self.task_cpu} on Fargate"
            )
        if not 1 <= self.min_tasks <= self.max_tasks:
            raise ConfigError(f"{prefix} need 1 <= min_tasks <= max_tasks")
        if not 10 <= self.cpu_target_percent <= 90:
            raise ConfigError(f"{prefix} cpu_target_percent must be between 10 and 90")
        if self.requests_per_target_per_minute < 1:
            raise ConfigError(f"{prefix} requests_per_target_per_minute must be positive")
        if not 0.05 <= self.device_request_share <= 0.95:
            raise ConfigError(f"{prefix} device_request_share must be between 0.05 and 0.95")
        device_part = self.device_requests_per_target_per_minute
        if not 1 <= device_part < self.requests_per_target_per_minute:
            raise ConfigError(f"{prefix} requests_per_target_per_minute is too small to share")
        if not _DB_INSTANCE.match(self.db_instance_type):
            raise ConfigError(
                f"{prefix} db_instance_type looks like 't4g.small', not {self.db_instance_type!r}"
            )
        if not 20 <= self.db_allocated_storage_gib <= self.db_max_allocated_storage_gib:
            raise ConfigError(
                f"{prefix} need 20 <= db_allocated_storage_gib <= db_max_allocated_storage_gib"
            )
        if not 1 <= self.db_backup_retention_days <= 35:
            raise ConfigError(f"{prefix} db_backup_retention_days must be 1..35 (RDS limits)")
        if not 0 <= self.nat_gateways <= 2:
            raise ConfigError(f"{prefix} nat_gateways must be 0, 1 or 2 (two availability zones)")
        if not 0 <= self.purge_schedule_utc_hour <= 23:
            raise ConfigError(f"{prefix} purge_schedule_utc_hour must be 0..23")
        if self.github_repository and not _GITHUB_REPOSITORY.match(self.github_repository):
            raise ConfigError(
                f"{prefix} github_repository must look like 'owner/name', "
                f"not {self.github_repository!r}"
            )
        # Burstable classes run out of CPU credits under a steady load like a city's.
        if self.name == "production" and self.db_instance_type.startswith("t"):
            raise ConfigError(
                f"{prefix} db_instance_type {self.db_instance_type!r} is burstable; use a "
                "fixed-performance class such as m7g.large (docs/operations.md, sizing)"
            )
        if not _REGION.match(self.backup_copy_region) or self.backup_copy_region == self.region:
            raise ConfigError(
                f"{prefix} backup_copy_region must be another AWS region than {self.region}"
            )
        if not 7 <= self.backup_retention_days <= 3650:
            raise ConfigError(f"{prefix} backup_retention_days must be 7..3650")
        if self.db_restore_snapshot and not _SNAPSHOT_ARN.match(self.db_restore_snapshot):
            raise ConfigError(
                f"{prefix} db_restore_snapshot must be the ARN of an RDS snapshot "
                f"(arn:aws:rds:{self.region}:<account>:snapshot:<name>)"
            )
        if not 1 <= self.offline_alarm_percent <= 100:
            raise ConfigError(f"{prefix} offline_alarm_percent must be 1..100")
        if self.monthly_budget_usd < 1:
            raise ConfigError(f"{prefix} monthly_budget_usd must be a positive whole number")
        if self.log_retention_days not in _LOG_RETENTION_DAYS:
            raise ConfigError(
                f"{prefix} log_retention_days must be one of {sorted(_LOG_RETENTION_DAYS)}"
            )

    def _validate_base_image(self, prefix: str) -> None:
        """Refuse a base image that is not pinned by digest, or still the example."""
        hint = (
            "the Python base image pinned by digest, e.g. "
            "python:3.11-slim-bookworm@sha256:<64 hex digits> "
            "(docker buildx imagetools inspect python:3.11-slim-bookworm)"
        )
        if not _BASE_IMAGE.match(self.base_image):
            raise ConfigError(f"{prefix} base_image must be {hint}")
        if self.base_image.endswith("@sha256:" + "0" * 64):
            raise ConfigError(f"{prefix} base_image is still the example; put {hint}")

    def _validate_certificate(self, prefix: str) -> None:
        """Reject a certificate ARN that is malformed, a placeholder, or in another region."""
        hint = f"the ARN of an issued ACM certificate for {self.domain_name}"
        if not _CERTIFICATE_ARN.match(self.certificate_arn):
            raise ConfigError(f"{prefix} certificate_arn must be {hint} (docs/operations.md)")
        if self.certificate_arn.endswith(_PLACEHOLDER_CERTIFICATE):
            raise ConfigError(f"{prefix} certificate_arn is still the example; put {hint}")
        # A load balancer can only use a certificate from its own region.
        if self.certificate_arn.split(":")[3] != self.region:
            raise ConfigError(f"{prefix} certificate_arn must be in region {self.region}")


def parse_environments(data: dict[str, Any]) -> dict[str, EnvironmentConfig]:
    """Build one EnvironmentConfig per table of the parsed TOML document (not validated)."""
    defaults = data.get("defaults", {})
    environments: dict[str, EnvironmentConfig] = {}
    for name, table in data.items():
        if name == "defaults":
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{name!r} must be a table of settings")
        environments[name] = _build(name, {**defaults, **table, "name": name})
    if not environments:
        raise ConfigError("no environment defined (add a [staging] or [production] table)")
    return environments


def _build(name: str, settings: dict[str, Any]) -> EnvironmentConfig:
    """Check names and types of one environment's settings, then validate the result."""
    known = {f.name: f for f in fields(EnvironmentConfig)}
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"environment {name!r}: unknown settings {', '.join(unknown)}")
    missing = sorted(
        key for key, f in known.items() if f.default is MISSING and key not in settings
    )
    if missing:
        raise ConfigError(f"environment {name!r}: missing settings {', '.join(missing)}")
    for key, value in settings.items():
        default = known[key].default
        expected = str if default is MISSING else type(default)
        # bool is an int in Python; TOML keeps them apart, and so do we.
        if type(value) is not expected:
            raise ConfigError(
                f"environment {name!r}: {key} must be {expected.__name__}, got {value!r}"
            )
    return EnvironmentConfig(**settings)


def load_environment(name: str, path: Path = DEFAULT_CONFIG_PATH) -> EnvironmentConfig:
    """Read the environments file and return the named environment, validated."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"environments file {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"environments file {path} is not valid TOML: {error}") from error
    environments = parse_environments(data)
    if name not in environments:
        raise ConfigError(
            f"no environment {name!r} in {path.name}; choose one of {', '.join(environments)}"
        )
    config = environments[name]
    config.validate()
    return config
