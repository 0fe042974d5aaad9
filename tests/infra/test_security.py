"""The properties that keep data safe: nothing public but the load balancer, all encrypted."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesis, dump, only, resources


def test_database_is_private_encrypted_and_backed_up(template: dict[str, Any]) -> None:
    db = only(template, "AWS::RDS::DBInstance")
    assert db["PubliclyAccessible"] is False
    assert db["StorageEncrypted"] is True
    assert db["BackupRetentionPeriod"] >= 7
    assert db["Engine"] == "postgres"
    assert db["CopyTagsToSnapshot"] is True
    subnets = only(template, "AWS::RDS::DBSubnetGroup")["SubnetIds"]
    isolated = {
        logical_id
        for logical_id, subnet in resources(template, "AWS::EC2::Subnet").items()
        if "dataSubnet" in logical_id
    }
    assert {ref["Ref"] for ref in subnets} == isolated


def test_database_refuses_unencrypted_connections(template: dict[str, Any]) -> None:
    parameters = only(template, "AWS::RDS::DBParameterGroup")["Parameters"]
    assert parameters["rds.force_ssl"] == "1"


def test_production_database_is_protected_and_recoverable(synthesis: Synthesis) -> None:
    db = only(synthesis.templates["production"], "AWS::RDS::DBInstance")
    # Single-AZ by the committed configuration (docs/operations.md, "Costs"): a week or
    # more of point-in-time recovery instead of a standby.
    assert db["MultiAZ"] is False and db["BackupRetentionPeriod"] >= 7
    assert db["DeletionProtection"] is True
    resource = next(
        iter(resources(synthesis.templates["production"], "AWS::RDS::DBInstance").values())
    )
    # Never deleted by CloudFormation, even when a restore replaces it (docs/operations.md).
    assert resource["DeletionPolicy"] == "Retain"


def test_database_admits_only_backend_tasks(template: dict[str, Any]) -> None:
    groups = resources(template, "AWS::EC2::SecurityGroup")
    (db_group,) = [k for k in groups if k.startswith("NetworkDatabaseSecurityGroup")]
    ingress = [
        rule["Properties"]
        for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [db_group, "GroupId"]}
    ]
    sources = sorted(rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in ingress)
    assert [s.split("SecurityGroup")[0] for s in sources] == ["NetworkApp", "NetworkJobs"]
    assert all(rule["FromPort"] == rule["ToPort"] == 5432 for rule in ingress)


def test_only_the_load_balancer_is_open_to_the_internet(template: dict[str, Any]) -> None:
    open_groups = set()
    for logical_id, group in resources(template, "AWS::EC2::SecurityGroup").items():
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0":
                open_groups.add(logical_id)
                assert rule["FromPort"] in (80, 443)
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        assert "CidrIp" not in rule["Properties"]
    assert len(open_groups) == 1
    assert next(iter(open_groups)).startswith("NetworkAlbSecurityGroup")


def test_tasks_behind_nat_run_without_public_addresses(synthesis: Synthesis) -> None:
    service = only(synthesis.templates["staging"], "AWS::ECS::Service")
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert "appSubnet" in dump(network["Subnets"])


def test_tasks_without_nat_are_reachable_only_from_the_load_balancers(
    synthesis: Synthesis,
) -> None:
    template = synthesis.templates["production"]
    service = only(template, "AWS::ECS::Service")
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    assert "publicSubnet" in dump(network["Subnets"])
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        target = dump(rule["Properties"]["GroupId"])
        if "AppSecurityGroup" in target or "JobsSecurityGroup" in target:
            assert "AlbSecurityGroup" in dump(rule["Properties"]["SourceSecurityGroupId"])
    groups = resources(template, "AWS::EC2::SecurityGroup")
    for logical_id, group in groups.items():
        if logical_id.startswith(("NetworkAppSecurityGroup", "NetworkJobsSecurityGroup")):
            assert not group["Properties"].get("SecurityGroupIngress")
    # The data subnets keep the address ranges (and ids) they have behind NAT gateways.
    assert _data_subnets(template) == _data_subnets(synthesis.templates["staging"])


def _data_subnets(template: dict[str, Any]) -> dict[str, str]:
    return {
        k: s["Properties"]["CidrBlock"]
        for k, s in resources(template, "AWS::EC2::Subnet").items()
        if "dataSubnet" in k
    }


def test_https_with_modern_tls_and_http_only_redirects(template: dict[str, Any]) -> None:
    listeners = resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    by_port: dict[int, list[dict[str, Any]]] = {}
    for listener in listeners:
        by_port.setdefault(listener["Properties"]["Port"], []).append(listener["Properties"])
    assert set(by_port) == {80, 443}
    assert len(by_port[443]) == 2  # the public load balancer and the device one
    for https in by_port[443]:
        assert https["Protocol"] == "HTTPS"
        assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
        assert https["Certificates"][0]["CertificateArn"].startswith("arn:aws:acm:")
    # Plain HTTP only on the public one (browsers), and only as a redirect.
    (http,) = by_port[80]
    assert "WebLoadBalancer" in dump(http["LoadBalancerArn"])
    (redirect,) = http["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"


def test_load_balancer_drops_invalid_headers_and_logs_access(template: dict[str, Any]) -> None:
    balancers = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert len(balancers) == 2
    for alb in balancers:
        props = alb["Properties"]
        attributes = {a["Key"]: a["Value"] for a in props["LoadBalancerAttributes"]}
        assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
        assert attributes["access_logs.s3.enabled"] == "true"
        assert props["Scheme"] == "internet-facing"


def test_the_load_balancers_check_that_the_process_has_reached_the_database(
    template: dict[str, Any],
) -> None:
    # A database outage shorter than the grace fails no check (backend/health.py).
    groups = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert len(groups) == 2  # one per load balancer (public, devices), the same tasks
    for target_group in groups:
        assert target_group["Properties"]["HealthCheckPath"] == "/startedz"
        assert target_group["Properties"]["TargetType"] == "ip"


def test_no_health_check_is_ever_shed_under_load(template: dict[str, Any]) -> None:
    # A shed check would take a busy task out and put its load on the others (a cascade).
    from backend.shedding import EXEMPT_PATHS

    groups = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert {g["Properties"]["HealthCheckPath"] for g in groups} <= EXEMPT_PATHS
    container_checks = [
        " ".join(container["HealthCheck"]["Command"])
        for task in resources(template, "AWS::ECS::TaskDefinition").values()
        for container in task["Properties"]["ContainerDefinitions"]
        if "HealthCheck" in container
    ]
    assert container_checks
    for command in container_checks:
        assert any(f"127.0.0.1:8000{path}'" in command for path in EXEMPT_PATHS), command


def test_buckets_are_encrypted_private_and_tls_only(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # exports, logs, operator files
    policies = {
        p["Properties"]["Bucket"]["Ref"]: dump(p["Properties"]["PolicyDocument"])
        for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert '"aws:SecureTransport": "false"' in policies[logical_id]
        assert bucket["DeletionPolicy"] == "Retain"


def test_exports_bucket_is_versioned_and_logged(template: dict[str, Any]) -> None:
    (exports,) = [
        b["Properties"]
        for k, b in resources(template, "AWS::S3::Bucket").items()
        if k.startswith("DataExportsBucket")
    ]
    assert exports["VersioningConfiguration"]["Status"] == "Enabled"
    assert "LoggingConfiguration" in exports


def test_alert_topic_is_encrypted_with_a_rotating_key(template: dict[str, Any]) -> None:
    topic = only(template, "AWS::SNS::Topic")
    (key_id,) = [k for k in resources(template, "AWS::KMS::Key") if k.startswith("AlertsKey")]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    for key in resources(template, "AWS::KMS::Key").values():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_secrets_exist_for_app_database_and_signing_keys(template: dict[str, Any]) -> None:
    names = sorted(
        dump(s["Properties"]["Name"])
        for s in resources(template, "AWS::SecretsManager::Secret").values()
    )
    assert [n.rsplit("/", 1)[-1].strip('"') for n in names] == [
        "app-secret-key",
        "database",
        "metrics-token",
        "operator-handoff",
        "token-signing-keys",
    ]


def test_redis_counters_are_private(template: dict[str, Any]) -> None:
    cache = only(template, "AWS::ElastiCache::ServerlessCache")
    assert cache["Engine"] == "valkey"
    assert "dataSubnet" in dump(cache["SubnetIds"])


def test_vpc_spans_two_availability_zones_with_flow_logs(template: dict[str, Any]) -> None:
    zones = {
        dump(s["Properties"]["AvailabilityZone"])
        for s in resources(template, "AWS::EC2::Subnet").values()
    }
    assert len(zones) == 2
    assert only(template, "AWS::EC2::FlowLog")["TrafficType"] == "REJECT"


def test_signing_key_secret_starts_without_a_key(template: dict[str, Any]) -> None:
    # The first `flask keys rotate` creates the key set; nothing secret is in the template.
    (signing,) = [
        s["Properties"]
        for k, s in resources(template, "AWS::SecretsManager::Secret").items()
        if k.startswith("DataSigningKeys")
    ]
    assert signing["SecretString"] == "{}"
    assert "GenerateSecretString" not in signing
