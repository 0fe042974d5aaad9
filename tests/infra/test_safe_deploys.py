"""Safe deploys: jobs after the migration, /metrics not public, WAF, CI role, production size."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.infra.conftest import TEST_REPOSITORY, Synthesis, dump, only, resources


def test_scheduled_jobs_wait_for_the_migration_of_their_release(
    template: dict[str, Any],
) -> None:
    (migration_id,) = resources(template, "Custom::FairrollMigration")
    scheduled = [
        rule
        for rule in resources(template, "AWS::Events::Rule")
        if "ScheduleExpression" in template["Resources"][rule]["Properties"]
    ]
    assert len(scheduled) == 2
    for rule in scheduled:
        assert migration_id in template["Resources"][rule]["DependsOn"]


def _rules_of(template: dict[str, Any], balancer_prefix: str) -> list[dict[str, Any]]:
    """The listener rules of the HTTPS listener of the balancer whose id has this prefix."""
    (listener_id,) = [
        lid
        for lid, lsn in resources(template, "AWS::ElasticLoadBalancingV2::Listener").items()
        if lsn["Properties"]["Port"] == 443 and lid.startswith(balancer_prefix)
    ]
    return [
        rule["Properties"]
        for rule in resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if rule["Properties"]["ListenerArn"] == {"Ref": listener_id}
    ]


def test_metrics_is_not_routed_from_the_public_load_balancer(template: dict[str, Any]) -> None:
    rules = {rule["Priority"]: rule for rule in _rules_of(template, "WebLoadBalancer")}
    props = rules[1]
    (condition,) = props["Conditions"]
    assert condition["PathPatternConfig"]["Values"] == ["/metrics", "/metrics/*"]
    (action,) = props["Actions"]
    assert action["Type"] == "fixed-response"
    assert action["FixedResponseConfig"]["StatusCode"] == "404"
    # No other rule of the public listener forwards anything to the tasks.
    assert all(a["Type"] == "fixed-response" for r in rules.values() for a in r["Actions"])
    # The device load balancer forwards only the device API, which excludes /metrics.
    forwarded = [
        value
        for rule in _rules_of(template, "WebDeviceLoadBalancer")
        for condition in rule["Conditions"]
        for value in condition["PathPatternConfig"]["Values"]
    ]
    assert forwarded == ["/api/v1/device/*"]


def test_waf_rate_limits_visitors_and_admins_on_their_own_paths(
    template: dict[str, Any],
) -> None:
    acl = only(template, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    assert set(rules) == {"AwsIpReputation", "VisitorRate", "AdminRate"}
    visitor = rules["VisitorRate"]["Statement"]["RateBasedStatement"]
    admin = rules["AdminRate"]["Statement"]["RateBasedStatement"]
    assert visitor["AggregateKeyType"] == admin["AggregateKeyType"] == "IP"
    assert admin["Limit"] < visitor["Limit"]
    assert '"/d/"' in dump(visitor["ScopeDownStatement"])
    assert '"/api/v1/dispensers/"' in dump(visitor["ScopeDownStatement"])
    assert '"/admin"' in dump(admin["ScopeDownStatement"])
    # The device API is never rate-limited by address (a site's dispensers share one).
    assert "/api/v1/device" not in dump(acl)
    association = only(template, "AWS::WAFv2::WebACLAssociation")
    (alb_id,) = [
        lb
        for lb in resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        if lb.startswith("WebLoadBalancer")
    ]
    assert association["ResourceArn"] == {"Ref": alb_id}


def test_ci_deploys_with_an_oidc_role_that_can_only_assume_the_cdk_roles(
    template: dict[str, Any], env_name: str
) -> None:
    (role_id,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("DeployRole")]
    role = template["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "oidc-provider/token.actions.githubusercontent.com" in dump(trust["Principal"])
    assert trust["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": f"repo:{TEST_REPOSITORY}:environment:{env_name}",
    }
    assert "ManagedPolicyArns" not in role
    statements = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    (statement,) = statements
    assert statement["Action"] == "sts:AssumeRole"
    targets = dump(statement["Resource"])
    for kind in ("deploy", "file-publishing", "image-publishing", "lookup"):
        assert f"cdk-hnb659fds-{kind}-role-" in targets
    assert "DeployRoleArn" in template["Outputs"]


def test_the_workflow_assumes_the_role_of_its_environment() -> None:
    from pathlib import Path

    workflow = (Path(__file__).resolve().parents[2] / ".github/workflows/deploy.yml").read_text()
    assert "id-token: write" in workflow
    assert "aws-actions/configure-aws-credentials" in workflow
    assert "environment: production" in workflow and "environment: staging" in workflow
    assert "aws-access-key-id" not in workflow  # no stored keys


def test_production_runs_a_fixed_performance_database(synthesis: Synthesis) -> None:
    from infra.config import ConfigError

    database = only(synthesis.templates["production"], "AWS::RDS::DBInstance")
    assert not database["DBInstanceClass"].startswith("db.t")
    burstable = dataclasses.replace(synthesis.configs["production"], db_instance_type="t4g.large")
    with pytest.raises(ConfigError, match="burstable"):
        burstable.validate()


def test_production_scales_to_the_city_load(synthesis: Synthesis) -> None:
    config = synthesis.configs["production"]
    # ~360 requests/s on average and twice that at the lunch peak (docs/operations.md).
    peak_per_minute = 720 * 60
    assert config.max_tasks * config.requests_per_target_per_minute >= peak_per_minute
    assert config.min_tasks >= 2 and config.task_cpu >= 1024
