"""The stacks synthesise offline and wire the backend's runtime contract."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesis, dump, resources


def _containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The single container of each task definition, by task definition logical id."""
    found = {}
    for logical_id, resource in resources(template, "AWS::ECS::TaskDefinition").items():
        (container,) = resource["Properties"]["ContainerDefinitions"]
        found[logical_id] = container
    return found


def _command(container: dict[str, Any]) -> list[str] | None:
    return container.get("Command")


def test_both_environments_synthesise_to_templates(synthesis: Synthesis) -> None:
    assert set(synthesis.templates) == {"staging", "production"}
    for template in synthesis.templates.values():
        assert len(template["Resources"]) > 50


def test_one_task_definition_per_kind_of_task(template: dict[str, Any]) -> None:
    commands = sorted(str(_command(c)) for c in _containers(template).values())
    assert commands == sorted(
        [
            "None",  # the web service runs the image's CMD (gunicorn app:app)
            str(["flask", "--app", "app", "db", "upgrade"]),
            str(["flask", "--app", "app", "purge"]),
            str(["flask", "--app", "app", "keys", "rotate"]),
            str(["flask", "--app", "app", "alerts", "check"]),
            str(["flask", "--app", "app", "users", "create-admin"]),
            str(["flask", "--app", "app", "dispensers", "enroll-bulk"]),
        ]
    )


def test_every_task_gets_the_runtime_contract(template: dict[str, Any]) -> None:
    required_env = {
        "FAIRROLL_ENV",
        "FAIRROLL_PUBLIC_URL",
        "FAIRROLL_INSTANCE_PATH",
        "AWS_REGION",
        "DB_NAME",
        "FAIRROLL_SIGNING_KEY_BACKEND",
        "FAIRROLL_SIGNING_KEY_SECRET_ID",
        "FAIRROLL_NOTIFIER",
        "FAIRROLL_SNS_TOPIC_ARN",
        "FAIRROLL_EXPORT_BUCKET",
        "FAIRROLL_METRICS",
        "FAIRROLL_PROXY_HOPS",
        "FAIRROLL_REDIS_URL",
    }
    required_secrets = {"SECRET_KEY", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD"}
    required_secrets.add("FAIRROLL_METRICS_TOKEN")  # /metrics requires it (not public)
    for container in _containers(template).values():
        env = {item["Name"]: item["Value"] for item in container["Environment"]}
        secrets = {item["Name"] for item in container["Secrets"]}
        assert required_env <= set(env)
        assert secrets == required_secrets
        assert env["FAIRROLL_ENV"] == "production"
        assert env["FAIRROLL_PUBLIC_URL"].startswith("https://")
        assert env["FAIRROLL_INSTANCE_PATH"].startswith("/tmp/")  # noqa: S108
        assert env["FAIRROLL_SIGNING_KEY_BACKEND"] == "secretsmanager"
        assert env["FAIRROLL_NOTIFIER"] == "sns"
        # One CloudWatch publisher: the scheduled fleet check; the rest serve Prometheus.
        is_check = container.get("Command", [])[-2:] == ["alerts", "check"]
        assert env["FAIRROLL_METRICS"] == ("cloudwatch" if is_check else "prometheus")
        assert env["FAIRROLL_PROXY_HOPS"] == "1"
        # Serverless Valkey speaks TLS only.
        assert dump(env["FAIRROLL_REDIS_URL"]).startswith('{"Fn::Join": ["", ["rediss://"')


def test_no_secret_is_a_plain_environment_variable(template: dict[str, Any]) -> None:
    for container in _containers(template).values():
        names = {item["Name"] for item in container["Environment"]}
        assert not names & {"SECRET_KEY", "DB_PASSWORD", "DATABASE_URL"}


def test_database_secret_fields_are_injected_by_name(template: dict[str, Any]) -> None:
    for container in _containers(template).values():
        by_name = {item["Name"]: str(item["ValueFrom"]) for item in container["Secrets"]}
        for variable, field in [
            ("DB_HOST", ":host::"),
            ("DB_PORT", ":port::"),
            ("DB_USER", ":username::"),
            ("DB_PASSWORD", ":password::"),
        ]:
            assert field in by_name[variable], variable


def test_containers_are_hardened(template: dict[str, Any]) -> None:
    for container in _containers(template).values():
        assert container["ReadonlyRootFilesystem"] is True
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert [m["ContainerPath"] for m in container["MountPoints"]] == ["/tmp"]  # noqa: S108


def test_web_container_has_a_liveness_check_on_healthz(template: dict[str, Any]) -> None:
    (web,) = [c for c in _containers(template).values() if _command(c) is None]
    assert "/healthz" in " ".join(web["HealthCheck"]["Command"])
    assert web["PortMappings"][0]["ContainerPort"] == 8000


def test_outputs_give_the_operator_what_the_guide_uses(template: dict[str, Any]) -> None:
    assert {
        "LoadBalancerDns",
        "ClusterName",
        "ServiceName",
        "PurgeScheduleRule",
        "RotateKeysTaskDefinition",
        "MigrateTaskDefinition",
        "JobSubnets",
        "JobSecurityGroup",
        "JobPublicIp",
        "AlertsTopic",
        "DashboardName",
    } <= set(template["Outputs"])
