"""One-off operator tasks (first admin, bulk enrollment) and the data key that guards them."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import dump, resources


def _task(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    (found,) = [
        r["Properties"]
        for k, r in resources(template, "AWS::ECS::TaskDefinition").items()
        if k.startswith(prefix)
    ]
    return found


def _environment(task: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in task["ContainerDefinitions"][0]["Environment"]}


def test_create_admin_task_delivers_to_the_handoff_secret(template: dict[str, Any]) -> None:
    task = _task(template, "OperatorCreateAdmin")
    container = task["ContainerDefinitions"][0]
    assert container["Command"] == ["flask", "--app", "app", "users", "create-admin"]
    handoff = _environment(task)["FAIRROLL_HANDOFF_SECRET_ID"]
    assert handoff["Ref"].startswith("DataOperatorHandoff")
    # The task role (not the execution role) writes it: the value never enters ECS.
    assert "DataOperatorHandoff" not in dump(container.get("Secrets", []))


def test_bulk_enroll_task_runs_the_enrollment_command(template: dict[str, Any]) -> None:
    task = _task(template, "OperatorBulkEnroll")
    assert task["ContainerDefinitions"][0]["Command"] == [
        "flask",
        "--app",
        "app",
        "dispensers",
        "enroll-bulk",
    ]
    assert "FAIRROLL_PUBLIC_URL" in _environment(task)  # the stickers' QR codes point there


def test_operator_bucket_is_encrypted_with_the_data_key_and_expires(
    template: dict[str, Any],
) -> None:
    (bucket,) = [
        r["Properties"]
        for k, r in resources(template, "AWS::S3::Bucket").items()
        if k.startswith("DataOperatorBucket")
    ]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "DataKey" in dump(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    expirations = [r.get("ExpirationInDays") for r in bucket["LifecycleConfiguration"]["Rules"]]
    assert 7 in expirations


def test_database_and_every_secret_use_the_customer_managed_key(template: dict[str, Any]) -> None:
    database = next(iter(resources(template, "AWS::RDS::DBInstance").values()))["Properties"]
    assert database["StorageEncrypted"] is True
    assert "DataKey" in dump(database["KmsKeyId"])
    for secret in resources(template, "AWS::SecretsManager::Secret").values():
        assert "DataKey" in dump(secret["Properties"]["KmsKeyId"])


def test_stack_outputs_name_what_the_runbook_commands_need(template: dict[str, Any]) -> None:
    assert {
        "CreateAdminTaskDefinition",
        "BulkEnrollTaskDefinition",
        "OperatorBucket",
        "OperatorHandoffSecret",
        "ClusterName",
        "JobSubnets",
        "JobSecurityGroup",
        "JobPublicIp",
    } <= set(template["Outputs"])
