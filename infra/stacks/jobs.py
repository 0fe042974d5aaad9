"""Backend tasks that are not the web service: purge, offline-alert check, key rotation."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.stacks.network import Network
from infra.stacks.runtime import (
    ALERTS_CHECK_COMMAND,
    PURGE_COMMAND,
    ROTATE_KEYS_COMMAND,
    AppRuntime,
)


class Jobs(Construct):
    """The scheduled purge and alert check, and the on-demand key rotation; a role each."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        network: Network,
        cluster: ecs.ICluster,
        runtime: AppRuntime,
        purge_role: iam.IRole,
        rotate_role: iam.IRole,
        alerts_role: iam.IRole,
    ) -> None:
        super().__init__(scope, construct_id)
        self.purge_task = runtime.task_definition(
            self, "Purge", role=purge_role, cpu=256, memory_mib=512, command=PURGE_COMMAND
        )
        # Run by an operator (docs/operations.md): the only task allowed to write the keys.
        self.rotate_keys_task = runtime.task_definition(
            self,
            "RotateKeys",
            role=rotate_role,
            cpu=256,
            memory_mib=512,
            command=ROTATE_KEYS_COMMAND,
        )
        # Offline dispensers send no heartbeat, so nothing on the request path notices
        # them: this task raises (and resolves) offline alerts and publishes the metrics.
        # The one publisher of the fleet-wide CloudWatch metrics.
        self.alerts_task = runtime.task_definition(
            self, "AlertsCheck", role=alerts_role, cpu=256, memory_mib=512,
            command=ALERTS_CHECK_COMMAND, environment={"FAIRROLL_METRICS": "cloudwatch"},
        )  # fmt: skip

        def on_schedule(task: ecs.TaskDefinition) -> targets.EcsTask:
            return targets.EcsTask(
                cluster=cluster,
                task_definition=task,
                launch_type=ecs.LaunchType.FARGATE,
                subnet_selection=network.task_subnets,
                security_groups=[network.jobs_security_group],
                assign_public_ip=network.tasks_public,
                retry_attempts=2,
            )

        self.purge_schedule = events.Rule(
            self,
            "PurgeSchedule",
            description="Daily retention purge: delete tokens and raw events past retention",
            schedule=events.Schedule.cron(minute="17", hour=str(config.purge_schedule_utc_hour)),
            targets=[on_schedule(self.purge_task)],
        )
        self.alerts_schedule = events.Rule(
            self,
            "AlertsSchedule",
            description="Every minute: offline-dispenser alerts and aggregate metrics",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[on_schedule(self.alerts_task)],
        )

    @property
    def schedules(self) -> list[events.Rule]:
        """The EventBridge rules that start tasks on a schedule."""
        return [self.purge_schedule, self.alerts_schedule]

    @property
    def task_families(self) -> list[str]:
        """The task definition families whose failures must raise an alert."""
        return [self.purge_task.family, self.rotate_keys_task.family, self.alerts_task.family]
