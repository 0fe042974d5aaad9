"""The environments file: one definition, validated, with clear errors for bad settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_environment, parse_environments
from tests.infra.conftest import TEST_BASE_IMAGE, TEST_CERTIFICATE, committed_configs


def _valid(**overrides: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "region": "us-east-1",
        "domain_name": "fairroll.example.org",
        "certificate_arn": TEST_CERTIFICATE,
        "base_image": TEST_BASE_IMAGE,
    }
    settings.update(overrides)
    return settings


def _config(**overrides: object):  # type: ignore[no-untyped-def]
    return parse_environments({"staging": _valid(**overrides)})["staging"]


def test_committed_file_defines_staging_and_production() -> None:
    assert set(committed_configs()) == {"staging", "production"}


def test_committed_production_is_protected_recoverable_and_scales_out() -> None:
    # Single-AZ is a priced choice (docs/operations.md, "Costs"); a week of point-in-time
    # recovery and the second region's backup copies are not.
    production = committed_configs()["production"]
    assert production.deletion_protection and production.db_backup_retention_days >= 7
    assert production.backup_copy_region != production.region
    assert production.min_tasks >= 2 and production.needs_shared_counters


def test_defaults_table_applies_to_every_environment() -> None:
    configs = parse_environments(
        {"defaults": {"region": "eu-west-1"}, "a": _valid(region="eu-west-1"), "b": _valid()}
    )
    assert configs["a"].region == "eu-west-1"
    assert configs["b"].region == "us-east-1"


def test_committed_placeholder_certificate_is_refused() -> None:
    with pytest.raises(ConfigError, match="certificate_arn is still the example"):
        load_environment("production", DEFAULT_CONFIG_PATH)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("python:3.11-slim-bookworm", "pinned by digest"),
        ("python@sha256:" + "ab" * 32, "pinned by digest"),
        ("python:3.11-slim@sha256:" + "0" * 64, "still the example"),
    ],
)
def test_the_base_image_must_be_pinned_by_digest(image: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(base_image=image).validate()


def test_unknown_environment_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="choose one of staging, production"):
        load_environment("prod", DEFAULT_CONFIG_PATH)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "blue"}, "unknown settings colour"),
        ({"min_tasks": "2"}, "min_tasks must be int"),
        ({"db_multi_az": 1}, "db_multi_az must be bool"),
        ({"region": "Frankfurt"}, "not an AWS region"),
        ({"certificate_arn": "arn:aws:iam::1:cert"}, "ARN of an issued ACM certificate"),
        (
            {"certificate_arn": TEST_CERTIFICATE.replace("us-east-1", "eu-west-1")},
            "must be in region us-east-1",
        ),
        ({"task_cpu": 300}, "task_cpu must be one of"),
        ({"task_cpu": 256, "task_memory_mib": 4096}, "does not fit task_cpu"),
        ({"min_tasks": 3, "max_tasks": 2}, "min_tasks <= max_tasks"),
        ({"db_backup_retention_days": 0}, "1..35"),
        ({"nat_gateways": 3}, "nat_gateways must be 0, 1 or 2"),
        ({"log_retention_days": 10}, "log_retention_days must be one of"),
        ({"alarm_email": "ops"}, "is not an address"),
        ({"account": "12345"}, "12 digits"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(**overrides).validate()


def test_missing_required_setting_is_named() -> None:
    settings = _valid()
    del settings["domain_name"]
    with pytest.raises(ConfigError, match="missing settings domain_name"):
        parse_environments({"staging": settings})


def test_production_must_be_protected() -> None:
    config = parse_environments({"production": _valid(deletion_protection=False)})["production"]
    with pytest.raises(ConfigError, match="needs deletion_protection"):
        config.validate()


def test_single_az_production_needs_a_week_of_point_in_time_recovery() -> None:
    settings = _valid(db_multi_az=False, db_backup_retention_days=3)
    config = parse_environments({"production": settings})["production"]
    with pytest.raises(ConfigError, match="single-AZ needs db_backup_retention_days"):
        config.validate()


def test_single_instance_needs_no_shared_counters() -> None:
    assert not dataclasses.replace(_config(), min_tasks=1, max_tasks=1).needs_shared_counters


def test_malformed_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "environments.toml"
    path.write_text("[staging\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_environment("staging", path)


def test_cdk_entry_point_explains_a_missing_environment() -> None:
    from infra.app import main

    with pytest.raises(SystemExit, match="choose an environment: -c env=staging"):
        main()


def test_cdk_entry_point_reports_config_errors() -> None:
    from infra.app import main

    with pytest.raises(SystemExit, match="infra: environment 'production': certificate_arn"):
        main({"env": "production"})
