"""Data that survives: AWS Backup with a copy in a second region, and the restore drill."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from tests.infra.conftest import Synthesis, dump, only, resources


def test_daily_backups_are_copied_to_a_second_region(synthesis: Synthesis, env_name: str) -> None:
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    plan = only(template, "AWS::Backup::BackupPlan")["BackupPlan"]
    (rule,) = plan["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert rule["Lifecycle"]["DeleteAfterDays"] == config.backup_retention_days
    (copy,) = rule["CopyActions"]
    destination = dump(copy["DestinationBackupVaultArn"])
    assert f":{config.backup_copy_region}:" in destination
    assert f"backup-vault:fairroll-{env_name}-copy" in destination
    assert copy["Lifecycle"]["DeleteAfterDays"] == config.backup_retention_days
    assert config.backup_copy_region != config.region


def test_the_backup_selection_is_the_database(template: dict[str, Any]) -> None:
    selection = only(template, "AWS::Backup::BackupSelection")["BackupSelection"]
    assert "DataDatabase" in dump(selection["Resources"])
    assert selection["IamRoleArn"]["Fn::GetAtt"][0].startswith("BackupsRole")


def test_vaults_are_encrypted_with_customer_managed_keys(
    synthesis: Synthesis, env_name: str
) -> None:
    vault = only(synthesis.templates[env_name], "AWS::Backup::BackupVault")
    assert "DataKey" in dump(vault["EncryptionKeyArn"])
    copy = synthesis.copy_templates[env_name]
    copy_vault = only(copy, "AWS::Backup::BackupVault")
    assert copy_vault["BackupVaultName"] == f"fairroll-{env_name}-copy"
    (key_id,) = resources(copy, "AWS::KMS::Key")
    assert copy_vault["EncryptionKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert copy["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    assert copy["Resources"][key_id]["DeletionPolicy"] == "Retain"


def test_the_copy_stack_is_clean(synthesis: Synthesis, env_name: str) -> None:
    assert synthesis.copy_nag_findings[env_name] == []
    matches = lint(
        synthesis.copy_template_files[env_name].read_text(encoding="utf-8"),
        config=ManualArgs(regions=[synthesis.configs[env_name].backup_copy_region]),
    )
    assert [m for m in matches if m.rule.id.startswith("E")] == []


def test_the_backup_role_reaches_the_copy_key_by_its_alias_only(template: dict[str, Any]) -> None:
    statements = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        if any(r["Ref"].startswith("BackupsRole") for r in policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    (cross_region,) = [s for s in statements if "Condition" in s]
    assert cross_region["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": f"alias/{_alias(template)}"}
    }


def _alias(template: dict[str, Any]) -> str:
    env = "production" if "production" in template["Description"] else "staging"
    return f"fairroll-{env}-backup-copy"


@pytest.fixture(scope="module")
def restored(synthesis: Synthesis) -> dict[str, Any]:
    """Production synthesised for the restore drill: db_restore_snapshot set."""
    from infra.app import add_stack, new_app

    config = dataclasses.replace(
        synthesis.configs["production"],
        db_restore_snapshot="arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1234",
    )
    config.validate()
    app = new_app(context={"aws:cdk:disable-asset-staging": True})
    stack = add_stack(app, config)
    return dict(app.synth().get_stack_by_name(stack.stack_name).template)


def test_a_restore_makes_a_new_instance_and_renames_nothing(
    synthesis: Synthesis, restored: dict[str, Any]
) -> None:
    before = only(synthesis.templates["production"], "AWS::RDS::DBInstance")
    (new_id,) = resources(restored, "AWS::RDS::DBInstance")
    after = restored["Resources"][new_id]
    assert new_id.startswith("DataRestoredDatabase")  # a new resource, not a changed one
    props = after["Properties"]
    assert props["DBSnapshotIdentifier"].endswith(":snapshot:awsbackup:job-1234")
    assert props["DBInstanceIdentifier"].startswith("fairroll-production-r")
    assert props["DBInstanceIdentifier"] != before["DBInstanceIdentifier"]
    # The replaced instance is left running (not deleted) for the operator to check.
    assert after["DeletionPolicy"] == "Retain"
    original = synthesis.templates["production"]["Resources"]
    (old_id,) = resources(synthesis.templates["production"], "AWS::RDS::DBInstance")
    assert original[old_id]["DeletionPolicy"] == "Retain"


def test_a_restore_points_the_same_secret_and_every_task_at_the_new_instance(
    synthesis: Synthesis, restored: dict[str, Any]
) -> None:
    (new_id,) = resources(restored, "AWS::RDS::DBInstance")
    (attachment,) = resources(restored, "AWS::SecretsManager::SecretTargetAttachment").values()
    assert attachment["Properties"]["TargetId"] == {"Ref": new_id}
    secrets_before = set(
        resources(synthesis.templates["production"], "AWS::SecretsManager::Secret")
    )
    assert set(resources(restored, "AWS::SecretsManager::Secret")) == secrets_before
    identifier = restored["Resources"][new_id]["Properties"]["DBInstanceIdentifier"]
    for definition in resources(restored, "AWS::ECS::TaskDefinition").values():
        env = {
            e["Name"]: e["Value"]
            for e in definition["Properties"]["ContainerDefinitions"][0]["Environment"]
        }
        assert env["DB_INSTANCE_ID"] == identifier  # changed, so every task restarts


def test_a_malformed_restore_snapshot_is_refused(synthesis: Synthesis) -> None:
    from infra.config import ConfigError

    config = dataclasses.replace(synthesis.configs["staging"], db_restore_snapshot="yesterday")
    with pytest.raises(ConfigError, match="db_restore_snapshot must be the ARN"):
        config.validate()
    same = dataclasses.replace(synthesis.configs["staging"], backup_copy_region="us-east-1")
    with pytest.raises(ConfigError, match="backup_copy_region"):
        same.validate()
