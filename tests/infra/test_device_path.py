"""Dispensers reach the backend through their own load balancer, not inspected by WAF."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infra.config import ConfigError
from infra.cost import PRICES_PATH, WORKLOAD_PATH, fleet_load, price
from tests.infra.conftest import TEST_CERTIFICATE, Synthesis, dump, only, resources


def _balancers(template: dict[str, Any]) -> dict[str, str]:
    """{"public"|"device": logical id} of the two load balancers."""
    ids = list(resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    return {
        "device": next(i for i in ids if i.startswith("WebDeviceLoadBalancer")),
        "public": next(i for i in ids if i.startswith("WebLoadBalancer")),
    }


def _listeners_of(template: dict[str, Any], balancer: str) -> dict[str, dict[str, Any]]:
    return {
        lid: lsn["Properties"]
        for lid, lsn in resources(template, "AWS::ElasticLoadBalancingV2::Listener").items()
        if lsn["Properties"]["LoadBalancerArn"] == {"Ref": balancer}
    }


def _rules_of(template: dict[str, Any], listener: str) -> list[dict[str, Any]]:
    return [
        rule["Properties"]
        for rule in resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if rule["Properties"]["ListenerArn"] == {"Ref": listener}
    ]


def test_the_device_load_balancer_has_no_web_acl(template: dict[str, Any]) -> None:
    balancers = _balancers(template)
    associations = resources(template, "AWS::WAFv2::WebACLAssociation").values()
    associated = [a["Properties"]["ResourceArn"] for a in associations]
    assert associated == [{"Ref": balancers["public"]}]
    assert balancers["device"] not in dump(list(associations))


def test_the_device_load_balancer_routes_only_the_device_api(template: dict[str, Any]) -> None:
    device = _balancers(template)["device"]
    ((listener_id, listener),) = _listeners_of(template, device).items()
    assert listener["Port"] == 443 and listener["Protocol"] == "HTTPS"
    assert listener["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    # Anything not matched by a rule (visitor pages, admin, /metrics) is a 404 here.
    (default,) = listener["DefaultActions"]
    assert default["Type"] == "fixed-response"
    assert default["FixedResponseConfig"]["StatusCode"] == "404"
    (rule,) = _rules_of(template, listener_id)
    (condition,) = rule["Conditions"]
    assert condition["PathPatternConfig"]["Values"] == ["/api/v1/device/*"]
    (action,) = rule["Actions"]
    assert action["Type"] == "forward"
    target_group = action["TargetGroupArn"]["Ref"]
    # The same web tasks serve both target groups; the service is registered in each.
    service = only(template, "AWS::ECS::Service")
    registered = {lb["TargetGroupArn"]["Ref"] for lb in service["LoadBalancers"]}
    assert target_group in registered and len(registered) == 2
    health = template["Resources"][target_group]["Properties"]
    assert health["HealthCheckPath"] == "/startedz"


def test_the_public_load_balancer_keeps_waf_and_refuses_the_device_api(
    synthesis: Synthesis, env_name: str
) -> None:
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    public = _balancers(template)["public"]
    listeners = _listeners_of(template, public)
    (https_id,) = [lid for lid, lsn in listeners.items() if lsn["Port"] == 443]
    (default,) = listeners[https_id]["DefaultActions"]
    assert default["Type"] == "forward"  # visitor pages, visitor API and admin UI
    refused = {
        value: rule["Actions"][0]
        for rule in _rules_of(template, https_id)
        for condition in rule["Conditions"]
        for value in condition["PathPatternConfig"]["Values"]
    }
    device_refusal = refused["/api/v1/device/*"]
    assert device_refusal["Type"] == "fixed-response"
    assert device_refusal["FixedResponseConfig"]["StatusCode"] == "421"
    message = device_refusal["FixedResponseConfig"]["MessageBody"]
    assert f"https://devices.{config.domain_name}" in message
    assert refused["/metrics"]["FixedResponseConfig"]["StatusCode"] == "404"


def test_devices_keep_their_connection_across_heartbeats(template: dict[str, Any]) -> None:
    device = _balancers(template)["device"]
    props = template["Resources"][device]["Properties"]
    attributes = {a["Key"]: a["Value"] for a in props["LoadBalancerAttributes"]}
    assert int(attributes["idle_timeout.timeout_seconds"]) > 60  # the heartbeat interval
    assert attributes["access_logs.s3.prefix"] == "device-alb"


def test_the_server_keeps_idle_connections_longer_than_every_load_balancer(
    template: dict[str, Any],
) -> None:
    # A balancer reuses an idle connection to a task until its own idle timeout; if the
    # server closed it first, a request sent at that moment would be answered 502.
    from backend import gunicorn_conf

    timeouts = [
        int(attribute["Value"])
        for balancer in _balancers(template).values()
        for attribute in template["Resources"][balancer]["Properties"]["LoadBalancerAttributes"]
        if attribute["Key"] == "idle_timeout.timeout_seconds"
    ]
    assert len(timeouts) == 2  # the public and the device load balancer
    assert gunicorn_conf.keepalive > max(timeouts)


def test_a_stopping_task_lets_gunicorn_finish_its_requests(template: dict[str, Any]) -> None:
    from backend import gunicorn_conf

    stops = [
        container["StopTimeout"]
        for task in resources(template, "AWS::ECS::TaskDefinition").values()
        for container in task["Properties"]["ContainerDefinitions"]
    ]
    assert stops and min(stops) > gunicorn_conf.graceful_timeout


def test_autoscaling_counts_requests_of_both_load_balancers(template: dict[str, Any]) -> None:
    policies = [
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for p in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    ]
    labels = dump(
        [p for p in policies if "ALBRequestCountPerTarget" in dump(p)]  # one per target group
    )
    assert labels.count("ALBRequestCountPerTarget") == 2


def test_the_two_request_targets_add_up_to_a_tasks_target(
    synthesis: Synthesis, env_name: str
) -> None:
    # A task serves both target groups, and each policy sees only its own group's
    # requests: with the whole target on each, a task could carry twice its target.
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    targets = {
        dump(p["PredefinedMetricSpecification"]["ResourceLabel"]): p["TargetValue"]
        for policy in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if "ALBRequestCountPerTarget"
        in dump(p := policy["Properties"]["TargetTrackingScalingPolicyConfiguration"])
    }
    assert len(targets) == 2
    assert sum(targets.values()) == config.requests_per_target_per_minute
    device = next(value for label, value in targets.items() if "DeviceLoadBalancer" in label)
    assert device == round(config.requests_per_target_per_minute * config.device_request_share)


def test_tasks_and_operator_get_the_device_server_address(
    synthesis: Synthesis, env_name: str
) -> None:
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    url = f"https://devices.{config.domain_name}"
    assert template["Outputs"]["DeviceServerUrl"]["Value"] == url
    assert "DeviceLoadBalancerDns" in template["Outputs"]
    web = next(
        c
        for td in resources(template, "AWS::ECS::TaskDefinition").values()
        for c in td["Properties"]["ContainerDefinitions"]
        if "Command" not in c
    )
    environment = {e["Name"]: e["Value"] for e in web["Environment"]}
    assert environment["FAIRROLL_DEVICE_URL"] == url


def test_device_hostname_and_certificate_are_checked(synthesis: Synthesis) -> None:
    config = synthesis.configs["production"]
    own = dataclasses.replace(config, device_domain_name="dispensers.city.example")
    own.validate()
    assert own.device_host == "dispensers.city.example"
    assert own.device_certificate == config.certificate_arn
    with pytest.raises(ConfigError, match="device_domain_name"):
        dataclasses.replace(config, device_domain_name=config.domain_name).validate()
    elsewhere = TEST_CERTIFICATE.replace("us-east-1", "eu-west-1")
    with pytest.raises(ConfigError, match="device_certificate_arn"):
        dataclasses.replace(config, device_certificate_arn=elsewhere).validate()


def test_the_cost_model_bills_waf_only_for_visitor_requests(synthesis: Synthesis) -> None:
    import tomllib

    prices = tomllib.loads(PRICES_PATH.read_text(encoding="utf-8"))
    workload = tomllib.loads(WORKLOAD_PATH.read_text(encoding="utf-8"))
    bill = price(synthesis.templates["production"], workload, prices, 10_000)
    (waf_requests,) = [n for n in bill.notes["WAF"] if "M requests" in n]
    # Only the visitors' requests (20 tokens/s x 6 requests each), none from dispensers.
    visitor_millions = fleet_load(workload, 10_000).visitor_rps * 730 * 3600 / 1e6
    assert waf_requests.startswith(f"{visitor_millions:,.0f} M requests")
    # No Container Insights line: it is switched off.
    assert not any("Container Insights" in n for n in bill.notes["CloudWatch"])
