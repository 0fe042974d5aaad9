"""/metrics is not public in AWS: the load balancer does not route it, and the app gets
its scrape token from Secrets Manager (without one, production /metrics refuses everyone).

The backend side is tested in tests/backend/test_production_surfaces.py; these check the
synthesised stacks.
"""

from __future__ import annotations

import re
from typing import Any

from tests.infra.conftest import dump, resources


def _path_patterns(rule: dict[str, Any]) -> list[str]:
    patterns: list[str] = []
    for condition in rule["Properties"].get("Conditions", []):
        patterns += condition.get("PathPatternConfig", {}).get("Values", [])
        if condition.get("Field") == "path-pattern":
            patterns += condition.get("Values", [])
    return patterns


def test_the_public_load_balancer_answers_metrics_itself(template: dict[str, Any]) -> None:
    rules = resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule")
    metrics_rules = [r for r in rules.values() if "/metrics" in _path_patterns(r)]
    assert metrics_rules, "no listener rule for /metrics: the load balancer forwards it"
    for rule in metrics_rules:
        actions = rule["Properties"]["Actions"]
        assert [a["Type"] for a in actions] == ["fixed-response"], dump(actions)
        assert actions[0]["FixedResponseConfig"]["StatusCode"] in ("403", "404")


def test_every_app_container_gets_the_metrics_token_from_secrets_manager(
    template: dict[str, Any],
) -> None:
    tasks = resources(template, "AWS::ECS::TaskDefinition")
    containers = [
        container
        for task in tasks.values()
        for container in task["Properties"]["ContainerDefinitions"]
        if any(e["Name"] == "FAIRROLL_ENV" for e in container.get("Environment", []))
    ]
    assert containers
    for container in containers:
        secrets = {s["Name"]: s["ValueFrom"] for s in container.get("Secrets", [])}
        assert "FAIRROLL_METRICS_TOKEN" in secrets, container.get("Name")
        source = secrets["FAIRROLL_METRICS_TOKEN"]
        # The whole secret (a Ref), or one of its JSON keys (a Fn::Join on the Ref).
        (logical_id,) = set(re.findall(r'"Ref": "([^"]+)"', dump(source)))
        assert template["Resources"][logical_id]["Type"] == "AWS::SecretsManager::Secret"
