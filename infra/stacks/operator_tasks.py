"""One-off tasks an operator runs with `aws ecs run-task`: first admin, bulk enrollment.

A one-off task has no terminal and its output goes to CloudWatch Logs, so secrets never
go there: the admin's credentials go to the hand-off secret, the enrollment sheet to the
operator bucket, both encrypted with the data key; the log says only where they are.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.stacks.runtime import BULK_ENROLL_COMMAND, CREATE_ADMIN_COMMAND, AppRuntime

# Where the operator puts enrollment CSVs, and where the task writes the sheets.
INCOMING_PREFIX = "incoming/"
SHEETS_PREFIX = "sheets/"


class OperatorTasks(Construct):
    """The create-admin and bulk-enrollment task definitions, each with its own narrow role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: AppRuntime,
        create_admin_role: iam.Role,
        bulk_enroll_role: iam.Role,
        handoff_secret: secretsmanager.ISecret,
        operator_bucket: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.create_admin_task = runtime.task_definition(
            self,
            "CreateAdmin",
            role=create_admin_role,
            cpu=256,
            memory_mib=512,
            command=CREATE_ADMIN_COMMAND,
            environment={"FAIRROLL_HANDOFF_SECRET_ID": handoff_secret.secret_arn},
        )
        create_admin_role.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:PutSecretValue"], resources=[handoff_secret.secret_arn]
            )
        )
        self.bulk_enroll_task = runtime.task_definition(
            self,
            "BulkEnroll",
            role=bulk_enroll_role,
            cpu=256,
            memory_mib=512,
            command=BULK_ENROLL_COMMAND,
        )
        bulk_enroll_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[operator_bucket.arn_for_objects(f"{INCOMING_PREFIX}*")],
            )
        )
        bulk_enroll_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[operator_bucket.arn_for_objects(f"{SHEETS_PREFIX}*")],
            )
        )
        # Writing the secret and the sheet needs a data key; reading the CSV decrypts it.
        for role in (create_admin_role, bulk_enroll_role):
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn]
                )
            )

    @property
    def task_families(self) -> list[str]:
        """The families whose failures must raise an alert."""
        return [self.create_admin_task.family, self.bulk_enroll_task.family]
