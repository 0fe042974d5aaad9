"""Database migrations as a one-off ECS task that must succeed before the web service updates."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.stacks.common import log_retention
from infra.stacks.network import Network
from infra.stacks.runtime import MIGRATE_COMMAND, AppRuntime

HANDLER_DIR = Path(__file__).resolve().parents[1] / "release_handler"


class Release(Construct):
    """Runs `flask db upgrade` for every new task definition and waits for its exit code.

    Each deploy that changes the image makes a new migration task definition revision,
    which changes this custom resource's properties, which re-runs the migration. The
    web service depends on this resource, so CloudFormation updates it only afterwards.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        network: Network,
        cluster: ecs.ICluster,
        runtime: AppRuntime,
        role: iam.IRole,
    ) -> None:
        super().__init__(scope, construct_id)
        self.task_definition = runtime.task_definition(
            self, "Migrate", role=role, cpu=256, memory_mib=512, command=MIGRATE_COMMAND
        )
        log_group = logs.LogGroup(
            self,
            "HandlerLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.handler_roles: list[iam.Role] = []
        start = self._function("Start", "index.on_event", log_group)
        wait = self._function("Wait", "index.is_complete", log_group)
        self.task_definition.grant_run(start)
        stack = Stack.of(self)
        wait.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks"],
                resources=[
                    stack.format_arn(
                        service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*"
                    )
                ],
            )
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=start,
            is_complete_handler=wait,
            query_interval=Duration.seconds(15),
            total_timeout=Duration.minutes(30),
            log_group=log_group,
            # Step Functions log delivery needs logs:* permissions on every resource; the
            # handlers already log each start and check, so the waiter does not log.
            disable_waiter_state_machine_logging=True,
        )
        self.provider = provider
        subnets = network.vpc.select_subnets(subnet_type=network.task_subnets.subnet_type)
        self.resource = CustomResource(
            self,
            "Migration",
            service_token=provider.service_token,
            resource_type="Custom::FairrollMigration",
            properties={
                "Cluster": cluster.cluster_arn,
                "TaskDefinition": self.task_definition.task_definition_arn,
                "Subnets": subnets.subnet_ids,
                "SecurityGroups": [network.jobs_security_group.security_group_id],
                "AssignPublicIp": "ENABLED" if network.tasks_public else "DISABLED",
            },
        )

    def _function(self, name: str, handler: str, log_group: logs.LogGroup) -> lambda_.Function:
        """A small Python Lambda function from infra/release_handler."""
        # Its own role that may write only to this log group (instead of the AWS-managed
        # basic execution policy, which allows every log group).
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"fairroll release: {name.lower()} handler",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:log-stream:*"],
            )
        )
        self.handler_roles.append(role)
        return lambda_.Function(
            self,
            name,
            runtime=lambda_.Runtime.PYTHON_3_14,
            role=role,
            handler=handler,
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__"]),
            timeout=Duration.minutes(1),
            memory_size=256,
            log_group=log_group,
            description=f"fairroll release: {name.lower()} the migration task",
        )
