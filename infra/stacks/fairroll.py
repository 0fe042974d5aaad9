"""The whole backend deployment of one environment, composed from the constructs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.stacks.backup import Backups
from infra.stacks.common import log_retention
from infra.stacks.dashboard import METRICS_NAMESPACE
from infra.stacks.data import DATABASE_NAME, Data
from infra.stacks.deploy_role import DeployRole
from infra.stacks.firewall import Firewall
from infra.stacks.jobs import Jobs
from infra.stacks.monitoring import Alerts, Monitoring
from infra.stacks.network import Network
from infra.stacks.operator_tasks import OperatorTasks
from infra.stacks.release import Release
from infra.stacks.runtime import WRITABLE_PATH, AppRuntime, backend_image, task_role
from infra.stacks.service import WebService


def stack_name(config: EnvironmentConfig) -> str:
    """The CloudFormation stack name of an environment, e.g. Fairroll-production."""
    return f"Fairroll-{config.name}"


class FairrollStack(Stack):
    """VPC, database, secrets, buckets, web service, jobs and monitoring of one environment."""

    def __init__(
        self,
        scope: Construct,
        config: EnvironmentConfig,
        *,
        image: ecs.ContainerImage | None = None,
    ) -> None:
        super().__init__(
            scope,
            stack_name(config),
            env=Environment(account=config.account or None, region=config.region),
            description=f"fairroll backend ({config.name})",
            termination_protection=config.deletion_protection,
        )
        Tags.of(self).add("project", "fairroll")
        Tags.of(self).add("environment", config.name)
        self.config = config
        self.network = Network(self, "Network", config=config)
        self.data = Data(self, "Data", config=config, network=self.network)
        self.alerts = Alerts(self, "Alerts", config=config)
        self.backups = Backups(
            self, "Backups", config=config, key=self.data.key, database=self.data.database
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.network.vpc,
            # Billed as custom metrics; off unless the environment asks for it.
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
                if config.container_insights
                else ecs.ContainerInsights.DISABLED
            ),
        )
        runtime = self._runtime(image or backend_image(config.base_image))
        roles = self._roles()
        self.task_roles = roles
        self.web_task_role = roles["web"]
        self.web = WebService(
            self,
            "Web",
            config=config,
            network=self.network,
            cluster=self.cluster,
            runtime=runtime,
            role=roles["web"],
            logs_bucket=self.data.logs_bucket,
        )
        self.release = Release(
            self,
            "Release",
            config=config,
            network=self.network,
            cluster=self.cluster,
            runtime=runtime,
            role=roles["migrate"],
        )
        self.firewall = Firewall(
            self, "Firewall", config=config, load_balancer=self.web.load_balancer
        )
        # The new version serves traffic only once its migrations have succeeded.
        self.web.service.node.add_dependency(self.release.resource)
        self.release.resource.node.add_dependency(self.data.database)
        self.jobs = Jobs(
            self,
            "Jobs",
            config=config,
            network=self.network,
            cluster=self.cluster,
            runtime=runtime,
            purge_role=roles["purge"],
            rotate_role=roles["rotate"],
            alerts_role=roles["alerts"],
        )
        self.operator_tasks = OperatorTasks(
            self,
            "Operator",
            runtime=runtime,
            create_admin_role=roles["create_admin"],
            bulk_enroll_role=roles["bulk_enroll"],
            handoff_secret=self.data.handoff_secret,
            operator_bucket=self.data.operator_bucket,
            key=self.data.key,
        )
        # Scheduled jobs move to the new task definitions only after the migration of
        # their release, so new code never runs against the old schema.
        for schedule in self.jobs.schedules:
            schedule.node.add_dependency(self.release.resource)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            alerts=self.alerts,
            service=self.web.service,
            load_balancer=self.web.load_balancer,
            target_group=self.web.target_group,
            device_load_balancer=self.web.device_load_balancer,
            device_target_group=self.web.device_target_group,
            database=self.data.database,
            cluster=self.cluster,
            job_families=self.jobs.task_families + self.operator_tasks.task_families,
            schedules=self.jobs.schedules,
        )
        self.deploy_role = (
            DeployRole(self, "Deploy", config=config).role if config.github_repository else None
        )
        self._outputs()

    def _runtime(self, image: ecs.ContainerImage) -> AppRuntime:
        """The environment and secrets of the runtime contract, shared by every task."""
        data, db_secret = self.data, self.data.database_secret
        environment = {
            "FAIRROLL_ENV": "production",  # requires SECRET_KEY, secure cookies
            "FAIRROLL_PUBLIC_URL": f"https://{self.config.domain_name}",
            # The server address dispensers are enrolled with (the device load balancer).
            "FAIRROLL_DEVICE_URL": f"https://{self.config.device_host}",
            # The root file system is read-only; this is the task's writable volume.
            "FAIRROLL_INSTANCE_PATH": f"{WRITABLE_PATH}/instance",
            "AWS_REGION": self.region,
            "DB_NAME": DATABASE_NAME,
            # Which instance DB_HOST points at: a restore changes it, so every task
            # definition changes and every task restarts with the new host.
            "DB_INSTANCE_ID": self.config.database_identifier,
            "FAIRROLL_SIGNING_KEY_BACKEND": "secretsmanager",
            "FAIRROLL_SIGNING_KEY_SECRET_ID": data.signing_keys.secret_arn,
            "FAIRROLL_NOTIFIER": "sns",
            "FAIRROLL_SNS_TOPIC_ARN": self.alerts.topic.topic_arn,
            "FAIRROLL_EXPORT_BUCKET": data.exports_bucket.bucket_name,
            # Prometheus counts per process; CloudWatch only from the scheduled fleet
            # check (infra/stacks/jobs.py sets cloudwatch for that task alone).
            "FAIRROLL_METRICS": "prometheus",
            "FAIRROLL_PROXY_HOPS": "1",  # exactly one proxy: the load balancer
            "PYTHONDONTWRITEBYTECODE": "1",  # the root file system is read-only
        }
        if data.redis_url is not None:
            environment["FAIRROLL_REDIS_URL"] = data.redis_url
        secrets = {
            "SECRET_KEY": ecs.Secret.from_secrets_manager(data.app_secret),
            # The bearer token /metrics requires (the path is not routed publicly either).
            "FAIRROLL_METRICS_TOKEN": ecs.Secret.from_secrets_manager(data.metrics_token),
            "DB_HOST": ecs.Secret.from_secrets_manager(db_secret, "host"),
            "DB_PORT": ecs.Secret.from_secrets_manager(db_secret, "port"),
            "DB_USER": ecs.Secret.from_secrets_manager(db_secret, "username"),
            "DB_PASSWORD": ecs.Secret.from_secrets_manager(db_secret, "password"),
        }
        log_group = logs.LogGroup(
            self,
            "AppLogs",
            retention=log_retention(self.config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        return AppRuntime(
            image=image, environment=environment, secrets=secrets, log_group=log_group
        )

    def _roles(self) -> dict[str, iam.Role]:
        """One task role per kind of task, each granted only what that task does."""
        web = task_role(self, "WebTaskRole", "fairroll web: serves requests")
        migrate = task_role(self, "MigrateTaskRole", "fairroll: runs database migrations")
        purge = task_role(self, "PurgeTaskRole", "fairroll: daily retention purge")
        rotate = task_role(self, "RotateKeysTaskRole", "fairroll: rotates token signing keys")
        alerts = task_role(self, "AlertsTaskRole", "fairroll: minutely offline-alert check")
        create_admin = task_role(self, "CreateAdminTaskRole", "fairroll: one-off first admin")
        bulk_enroll = task_role(self, "BulkEnrollTaskRole", "fairroll: one-off bulk enrollment")
        signing_keys = self.data.signing_keys.secret_arn
        # Every task loads the app, which reads the current signing keys (encrypted with
        # the data key, so reading them decrypts with it).
        for role in (web, migrate, purge, rotate, alerts, create_admin, bulk_enroll):
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[signing_keys]
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[self.data.key.key_arn])
            )
        rotate.add_to_policy(
            iam.PolicyStatement(actions=["secretsmanager:PutSecretValue"], resources=[signing_keys])
        )
        # The web tasks may run the fleet check too (and send its incident message); the
        # minutely check does. Only the check publishes CloudWatch metrics: one publisher,
        # a fixed number of calls a month, whatever the number of web workers.
        for role in (web, alerts):
            self._grant_alerts(role)
        alerts.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                # PutMetricData has no resource ARN; the namespace condition is the scope.
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            )
        )
        # The purge exports yesterday's aggregates before deleting raw events.
        for role in (web, purge):
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    resources=[self.data.exports_bucket.arn_for_objects("*")],
                )
            )
        return {
            "web": web,
            "migrate": migrate,
            "purge": purge,
            "rotate": rotate,
            "alerts": alerts,
            "create_admin": create_admin,
            "bulk_enroll": bulk_enroll,
        }

    def _grant_alerts(self, role: iam.Role) -> None:
        """Publish to the alerts topic (encrypted with its own key)."""
        role.add_to_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.alerts.topic.topic_arn])
        )
        # The topic is encrypted: publishing needs a data key from its KMS key.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.alerts.key.key_arn],
            )
        )

    def _outputs(self) -> None:
        """What an operator needs after a deploy: DNS target, names for the CLI commands."""
        outputs = {
            "LoadBalancerDns": self.web.load_balancer.load_balancer_dns_name,
            "DeviceLoadBalancerDns": self.web.device_load_balancer.load_balancer_dns_name,
            "DeviceServerUrl": f"https://{self.config.device_host}",
            "ClusterName": self.cluster.cluster_name,
            "ServiceName": self.web.service.service_name,
            "PurgeScheduleRule": self.jobs.purge_schedule.rule_name,
            "RotateKeysTaskDefinition": self.jobs.rotate_keys_task.family,
            "MigrateTaskDefinition": self.release.task_definition.family,
            "PurgeTaskDefinition": self.jobs.purge_task.family,
            "CreateAdminTaskDefinition": self.operator_tasks.create_admin_task.family,
            "BulkEnrollTaskDefinition": self.operator_tasks.bulk_enroll_task.family,
            "OperatorBucket": self.data.operator_bucket.bucket_name,
            "OperatorHandoffSecret": self.data.handoff_secret.secret_arn,
            "JobSubnets": ",".join(
                self.network.vpc.select_subnets(
                    subnet_type=self.network.task_subnets.subnet_type
                ).subnet_ids
            ),
            "JobPublicIp": "ENABLED" if self.network.tasks_public else "DISABLED",
            "JobSecurityGroup": self.network.jobs_security_group.security_group_id,
            "DatabaseEndpoint": self.data.database.db_instance_endpoint_address,
            "ExportsBucket": self.data.exports_bucket.bucket_name,
            "AlertsTopic": self.alerts.topic.topic_arn,
            "DashboardName": self.monitoring.dashboard.dashboard_name,
        }
        if self.deploy_role is not None:
            outputs["DeployRoleArn"] = self.deploy_role.role_arn
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
