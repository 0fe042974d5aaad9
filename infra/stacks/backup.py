"""AWS Backup: daily database snapshots under the data key, each copied to a second region.

The copy's vault lives in the second region, so it is its own small stack
(`Fairroll-<env>-backup-copy`, deployed first); the plan here names it by ARN.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from constructs import Construct

from infra.config import EnvironmentConfig


def copy_vault_name(config: EnvironmentConfig) -> str:
    """The vault in the second region that receives the copies."""
    return f"fairroll-{config.name}-copy"


def copy_key_alias(config: EnvironmentConfig) -> str:
    """The alias of the second region's key, which encrypts the copies."""
    return f"alias/fairroll-{config.name}-backup-copy"


class BackupCopyStack(Stack):
    """The second region's vault and key: the copies survive the loss of the first region."""

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(
            scope,
            f"Fairroll-{config.name}-backup-copy",
            env=Environment(account=config.account or None, region=config.backup_copy_region),
            description=f"fairroll backup copies ({config.name})",
            termination_protection=config.deletion_protection,
        )
        self.key = kms.Key(
            self,
            "Key",
            alias=copy_key_alias(config),
            description=f"fairroll {config.name}: encrypts the backup copies",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=copy_vault_name(config),
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )


class Backups(Construct):
    """The vault, the daily plan with its copy rule, and the selection (the database)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        database: rds.IDatabaseInstance,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=f"fairroll-{config.name}",
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        copy_vault = backup.BackupVault.from_backup_vault_arn(
            self,
            "CopyVault",
            stack.format_arn(
                service="backup",
                region=config.backup_copy_region,
                resource="backup-vault",
                resource_name=copy_vault_name(config),
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
        )
        keep = Duration.days(config.backup_retention_days)
        self.plan = backup.BackupPlan(self, "Plan", backup_plan_name=f"fairroll-{config.name}")
        self.plan.add_rule(
            backup.BackupPlanRule(
                rule_name="daily-with-copy",
                backup_vault=self.vault,
                # After the RDS backup window (01:00-01:30 UTC), before the purge (03:17).
                schedule_expression=events.Schedule.cron(minute="0", hour="2"),
                start_window=Duration.hours(1),
                completion_window=Duration.hours(4),
                delete_after=keep,
                copy_actions=[
                    backup.BackupPlanCopyActionProps(
                        destination_backup_vault=copy_vault, delete_after=keep
                    )
                ],
            )
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description=f"fairroll {config.name}: AWS Backup snapshots and their copies",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSBackupServiceRolePolicyForBackup"
                )
            ],
        )
        # Snapshots of the database are encrypted with the data key; copies are
        # re-encrypted in the second region with that region's key (found by its alias).
        key.grant(self.role, "kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt")
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey"],
                resources=[
                    stack.format_arn(
                        service="kms",
                        region=config.backup_copy_region,
                        resource="key",
                        resource_name="*",
                    )
                ],
                conditions={
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": copy_key_alias(config)}
                },
            )
        )
        self.plan.add_selection(
            "Database",
            resources=[backup.BackupResource.from_rds_database_instance(database)],
            role=self.role,
            allow_restores=False,
        )
