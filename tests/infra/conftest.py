"""One offline synthesis of both environments per test session, shared by every test."""

from __future__ import annotations

import os

# jsii prints a banner for Node versions past their end of life; the checks do not
# depend on the Node version, so keep test output readable. Set before jsii starts.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import dataclasses
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.config import DEFAULT_CONFIG_PATH, EnvironmentConfig, parse_environments

ENVIRONMENTS = ("staging", "production")
TEST_REPOSITORY = "example-city/fairroll"
TEST_BASE_IMAGE = "python:3.11-slim-bookworm@sha256:" + "ab" * 32
TEST_CERTIFICATE = (
    "arn:aws:acm:us-east-1:123456789012:certificate/0d3c4a1e-5b6f-4c7d-8e9f-a0b1c2d3e4f5"
)


@dataclass(frozen=True)
class Synthesis:
    """The synthesised templates, their files and the cdk-nag findings, per environment."""

    templates: dict[str, dict[str, Any]]
    template_files: dict[str, Path]
    nag_findings: dict[str, list[str]]
    configs: dict[str, EnvironmentConfig]
    # The second region's stack of each environment (the backup copy vault).
    copy_templates: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    copy_template_files: dict[str, Path] = dataclasses.field(default_factory=dict)
    copy_nag_findings: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def committed_configs() -> dict[str, EnvironmentConfig]:
    """The committed environment definitions, with a test certificate and alert address."""
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    configs = {}
    for name, config in parse_environments(data).items():
        configs[name] = dataclasses.replace(
            config,
            certificate_arn=TEST_CERTIFICATE,
            alarm_email="oncall@example.org",
            github_repository=config.github_repository or TEST_REPOSITORY,
            base_image=TEST_BASE_IMAGE,
        )
        configs[name].validate()
    return configs


def nag_findings(artifact: Any) -> list[str]:
    """The error and warning annotations (cdk-nag's findings) of a synthesised stack."""
    return [
        f"{message.id}: {message.entry.data}"
        for message in artifact.messages
        if str(message.level).endswith(("ERROR", "WARNING"))
    ]


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesis]:
    """Synthesise the staging and production stacks once, offline, with cdk-nag."""
    from infra.app import add_stack, new_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # Asset staging would copy the build context; hashing it is all the test needs.
    app = new_app(outdir=str(outdir), context={"aws:cdk:disable-asset-staging": True})
    configs = committed_configs()
    stacks = {name: add_stack(app, configs[name]) for name in ENVIRONMENTS}
    assembly = app.synth()
    templates, files, findings = {}, {}, {}
    copies: dict[str, dict[str, Any]] = {}
    copy_files, copy_findings = {}, {}
    for name, stack in stacks.items():
        artifact = assembly.get_stack_by_name(stack.stack_name)
        templates[name] = artifact.template
        files[name] = Path(artifact.template_full_path)
        findings[name] = nag_findings(artifact)
        copy = assembly.get_stack_by_name(f"{stack.stack_name}-backup-copy")
        copies[name] = copy.template
        copy_files[name] = Path(copy.template_full_path)
        copy_findings[name] = nag_findings(copy)
    yield Synthesis(templates, files, findings, configs, copies, copy_files, copy_findings)


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def env_name(request: pytest.FixtureRequest) -> str:
    """Each environment in turn."""
    return str(request.param)


@pytest.fixture(scope="session")
def template(synthesis: Synthesis, env_name: str) -> dict[str, Any]:
    """The synthesised CloudFormation template of one environment, as JSON data."""
    return synthesis.templates[env_name]


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The properties of the single resource of a type (failing if there are several)."""
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


def dump(value: object) -> str:
    """JSON text of a template fragment, for substring checks on intrinsic functions."""
    return json.dumps(value, sort_keys=True)
