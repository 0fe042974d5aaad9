"""Least privilege: each role may do what its task does, on its own resources only."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import dump, resources

# Actions that have no resource-level permissions in IAM, so "*" is the only resource.
_RESOURCELESS = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


def _statements_by_role(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every Allow statement of the inline policies, grouped by the role they attach to."""
    by_role: dict[str, list[dict[str, Any]]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        props = policy["Properties"]
        for role in props["Roles"]:
            by_role.setdefault(role["Ref"], []).extend(props["PolicyDocument"]["Statement"])
    return by_role


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def _role(by_role: dict[str, list[dict[str, Any]]], prefix: str) -> list[dict[str, Any]]:
    (match,) = [k for k in by_role if k.startswith(prefix)]
    return by_role[match]


def test_no_statement_allows_every_action(template: dict[str, Any]) -> None:
    for statements in _statements_by_role(template).values():
        for action in _actions(statements):
            assert action != "*" and not action.endswith(":*"), action


def test_wildcard_resources_only_for_actions_without_resource_arns(
    template: dict[str, Any],
) -> None:
    for statements in _statements_by_role(template).values():
        for statement in statements:
            if statement["Resource"] == "*":
                actions = _actions([statement])
                assert actions <= _RESOURCELESS, actions


def test_metrics_are_limited_to_the_fairroll_namespace(template: dict[str, Any]) -> None:
    for statements in _statements_by_role(template).values():
        for statement in statements:
            if "cloudwatch:PutMetricData" in _actions([statement]):
                assert statement["Condition"] == {
                    "StringEquals": {"cloudwatch:namespace": "fairroll"}
                }


def test_web_task_role_has_exactly_the_runtime_permissions(template: dict[str, Any]) -> None:
    web = _role(_statements_by_role(template), "WebTaskRole")
    assert _actions(web) == {
        "secretsmanager:GetSecretValue",
        "sns:Publish",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "s3:PutObject",
    }  # no cloudwatch:PutMetricData: only the scheduled check publishes metrics
    (put_object,) = [s for s in web if s["Action"] == "s3:PutObject"]
    assert "DataExportsBucket" in dump(put_object["Resource"])


def _writers_of(template: dict[str, Any], secret_prefix: str) -> list[str]:
    """The roles allowed to PutSecretValue on secrets whose logical id starts so."""
    return [
        role
        for role, statements in _statements_by_role(template).items()
        for s in statements
        if "secretsmanager:PutSecretValue" in _actions([s])
        and dump(s["Resource"]).startswith(f'{{"Ref": "{secret_prefix}')
    ]


def test_only_the_rotation_task_can_write_signing_keys(template: dict[str, Any]) -> None:
    (writer,) = _writers_of(template, "DataSigningKeys")
    assert writer.startswith("RotateKeysTaskRole")


def test_only_the_create_admin_task_can_write_the_handoff_secret(
    template: dict[str, Any],
) -> None:
    (writer,) = _writers_of(template, "DataOperatorHandoff")
    assert writer.startswith("CreateAdminTaskRole")
    writers = [
        role
        for role, statements in _statements_by_role(template).items()
        if "secretsmanager:PutSecretValue" in _actions(statements)
    ]
    assert sorted(w.rstrip("0123456789ABCDEF") for w in writers) == [
        "CreateAdminTaskRole",
        "RotateKeysTaskRole",
    ]


_READ_KEYS = {"secretsmanager:GetSecretValue", "kms:Decrypt"}


def test_migration_only_reads_the_signing_keys(template: dict[str, Any]) -> None:
    statements = _role(_statements_by_role(template), "MigrateTaskRole")
    assert _actions(statements) == _READ_KEYS
    for s in statements:
        ref = dump(s["Resource"])
        assert "DataSigningKeys" in ref or "DataKey" in ref


def test_purge_reads_the_keys_and_only_writes_exports(template: dict[str, Any]) -> None:
    statements = _role(_statements_by_role(template), "PurgeTaskRole")
    assert _actions(statements) == _READ_KEYS | {"s3:PutObject"}
    (put,) = [s for s in statements if "s3:PutObject" in _actions([s])]
    assert "DataExports" in dump(put["Resource"])


def test_alert_check_publishes_alerts_and_metrics_only(template: dict[str, Any]) -> None:
    statements = _role(_statements_by_role(template), "AlertsTaskRole")
    assert _actions(statements) == _READ_KEYS | {
        "sns:Publish",
        "kms:GenerateDataKey",
        "cloudwatch:PutMetricData",
    }


def test_create_admin_task_writes_only_the_handoff_secret(template: dict[str, Any]) -> None:
    statements = _role(_statements_by_role(template), "CreateAdminTaskRole")
    assert _actions(statements) == _READ_KEYS | {
        "secretsmanager:PutSecretValue",
        "kms:GenerateDataKey",
    }


def test_bulk_enroll_task_reads_incoming_and_writes_sheets_only(template: dict[str, Any]) -> None:
    statements = _role(_statements_by_role(template), "BulkEnrollTaskRole")
    assert _actions(statements) == _READ_KEYS | {
        "s3:GetObject",
        "s3:PutObject",
        "kms:GenerateDataKey",
    }
    (get,) = [s for s in statements if _actions([s]) == {"s3:GetObject"}]
    (put,) = [s for s in statements if _actions([s]) == {"s3:PutObject"}]
    assert "DataOperatorBucket" in dump(get["Resource"]) and "/incoming/*" in dump(get)
    assert "DataOperatorBucket" in dump(put["Resource"]) and "/sheets/*" in dump(put)


def test_only_the_fleet_check_may_publish_metrics(template: dict[str, Any]) -> None:
    publishers = [
        role
        for role, statements in _statements_by_role(template).items()
        if "cloudwatch:PutMetricData" in _actions(statements)
    ]
    assert len(publishers) == 1 and publishers[0].startswith("AlertsTaskRole")


def test_task_roles_are_assumable_only_by_ecs_tasks(template: dict[str, Any]) -> None:
    roles = resources(template, "AWS::IAM::Role")
    for name in (
        "WebTaskRole",
        "MigrateTaskRole",
        "PurgeTaskRole",
        "RotateKeysTaskRole",
        "AlertsTaskRole",
        "CreateAdminTaskRole",
        "BulkEnrollTaskRole",
    ):
        (role,) = [r for k, r in roles.items() if k.startswith(name)]
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert "ManagedPolicyArns" not in role["Properties"]


def test_no_users_access_keys_or_admin_policies(template: dict[str, Any]) -> None:
    assert not resources(template, "AWS::IAM::User")
    assert not resources(template, "AWS::IAM::AccessKey")
    assert "AdministratorAccess" not in dump(template)
    assert "PowerUserAccess" not in dump(template)


def test_managed_policies_only_on_cdk_provider_functions_and_backup(
    template: dict[str, Any],
) -> None:
    for logical_id, role in resources(template, "AWS::IAM::Role").items():
        if "ManagedPolicyArns" not in role["Properties"]:
            continue
        managed = dump(role["Properties"]["ManagedPolicyArns"])
        if logical_id.startswith("BackupsRole"):
            assert "AWSBackupServiceRolePolicyForBackup" in managed
            statement = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
            assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
            continue
        assert logical_id.startswith("ReleaseProviderframework"), logical_id
        assert "AWSLambdaBasicExecutionRole" in managed


def test_execution_roles_read_only_the_injected_secrets(template: dict[str, Any]) -> None:
    for role, statements in _statements_by_role(template).items():
        if "ExecutionRole" not in role:
            continue
        (secrets,) = [s for s in statements if "secretsmanager:GetSecretValue" in _actions([s])]
        refs = sorted(r["Ref"] for r in secrets["Resource"])
        assert [r.rstrip("0123456789ABCDEF") for r in refs] == [
            "DataAppSecret",
            "DataDatabaseSecretAttachment",
            "DataMetricsToken",
        ]
