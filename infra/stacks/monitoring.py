"""Alerts: an encrypted SNS topic, CloudWatch alarms, a dashboard, failed-job events."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.stacks.dashboard import FIVE_MINUTES, METRICS_NAMESPACE, build_dashboard

# Published once a minute, fleet-wide (no dimensions), by the scheduled fleet job only
# (backend/metrics.py): their price does not grow with the fleet.
FLEET_METRIC_TOTAL = "Dispensers"
FLEET_METRIC_OFFLINE = "DispensersOffline"
_Notice = budgets.CfnBudget.NotificationWithSubscribersProperty
# Services that notify the topic through its key: alarms, EventBridge rules, budgets.
PUBLISHING_SERVICES = ("cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com")


class Alerts(Construct):
    """The topic that alarms, failed jobs and the backend's own notifier publish to."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"fairroll {config.name}: encrypts the alerts topic",
            enable_key_rotation=True,
        )
        # CloudWatch alarms and EventBridge can publish to an encrypted topic only if the
        # key lets them; the AWS-managed SNS key cannot be opened to them.
        for service in PUBLISHING_SERVICES:
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" means this key
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"fairroll {config.name} alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        # Alarms and budgets publish as their services; say so in the topic policy, which
        # otherwise holds only the TLS rule and the EventBridge grant.
        for service in ("cloudwatch.amazonaws.com", "budgets.amazonaws.com"):
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=["sns:Publish"],
                    resources=[self.topic.topic_arn],
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))


class Monitoring(Construct):
    """Alarms on what hurts visitors or loses data, all sent to the alerts topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        alerts: Alerts,
        service: ecs.FargateService,
        load_balancer: elbv2.ApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        device_load_balancer: elbv2.ApplicationLoadBalancer,
        device_target_group: elbv2.ApplicationTargetGroup,
        database: rds.DatabaseInstanceBase,
        cluster: ecs.ICluster,
        job_families: list[str],
        schedules: list[events.Rule],
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = cw_actions.SnsAction(alerts.topic)
        self._prefix = f"fairroll-{config.name}"
        tg = target_group.metrics
        alb = load_balancer.metrics
        device_tg, device_alb = device_target_group.metrics, device_load_balancer.metrics
        self.alarms = [
            self._alarm(
                "Target5xx",
                tg.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=FIVE_MINUTES),
                10,
                "Backend answered 5xx more than 10 times in 5 min",
            ),
            self._alarm(
                "Alb5xx",
                alb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=FIVE_MINUTES),
                10,
                "Load balancer answered 5xx (no healthy backend?)",
            ),
            self._alarm(
                "DeviceTarget5xx",
                device_tg.http_code_target(
                    elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=FIVE_MINUTES
                ),
                10,
                "Backend answered dispensers 5xx more than 10 times in 5 min",
            ),
            self._alarm(
                "DeviceAlb5xx",
                device_alb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=FIVE_MINUTES),
                10,
                "Device load balancer answered 5xx (no healthy backend?)",
            ),
            self._alarm(
                "Latency",
                tg.target_response_time(statistic="p95", period=FIVE_MINUTES),
                1.0,
                "p95 response time above 1 s",
                periods=3,
            ),
            self._alarm(
                "UnhealthyTargets",
                tg.unhealthy_host_count(statistic="Maximum", period=Duration.minutes(1)),
                0,
                "A backend task fails its load balancer health check (/startedz)",
                periods=5,
            ),
            self._alarm(
                "NoHealthyTargets",
                tg.healthy_host_count(statistic="Minimum", period=Duration.minutes(1)),
                1,
                "No backend task is healthy: outage",
                periods=2,
                below=True,
                missing=cw.TreatMissingData.BREACHING,
            ),
            self._alarm(
                "ServiceCpu",
                service.metric_cpu_utilization(period=FIVE_MINUTES),
                85,
                "Backend CPU above 85 % (autoscaling at its maximum?)",
                periods=3,
            ),
            self._alarm(
                "ServiceMemory",
                service.metric_memory_utilization(period=FIVE_MINUTES),
                85,
                "Backend memory above 85 %",
                periods=3,
            ),
            self._alarm(
                "DatabaseCpu",
                database.metric_cpu_utilization(period=FIVE_MINUTES),
                80,
                "Database CPU above 80 %",
                periods=3,
            ),
            self._alarm(
                "DatabaseStorage",
                database.metric_free_storage_space(period=FIVE_MINUTES),
                2 * 1024**3,
                "Database has less than 2 GiB free",
                below=True,
            ),
            self._alarm(
                "DatabaseMemory",
                database.metric_freeable_memory(period=FIVE_MINUTES),
                64 * 1024**2,
                "Database has less than 64 MiB freeable memory",
                periods=3,
                below=True,
            ),
            *self._fleet_alarms(config),
            *(
                self._alarm(
                    f"{schedule.node.id}Failed",  # PurgeScheduleFailed, AlertsScheduleFailed
                    cw.Metric(
                        namespace="AWS/Events",
                        metric_name="FailedInvocations",
                        dimensions_map={"RuleName": schedule.rule_name},
                        statistic="Sum",
                        period=FIVE_MINUTES,
                    ),
                    0,
                    "A scheduled job (the daily purge or the fleet check) could not be started"
                    " after its retries: that run never happened",
                )
                for schedule in schedules
            ),
        ]
        self._failed_jobs_rule(alerts.topic, cluster, job_families)
        self.budget = self._budget(config, alerts.topic)
        self.dashboard = build_dashboard(
            self,
            name=self._prefix,
            alarms=self.alarms,
            service=service,
            target_group=target_group,
            alb=alb,
            device_alb=device_alb,
            database=database,
            cluster=cluster if config.container_insights else None,
        )

    def _fleet_alarms(self, config: EnvironmentConfig) -> list[cw.Alarm]:
        """Many dispensers offline at once, and the fleet job no longer reporting at all."""

        def fleet(name: str, statistic: str) -> cw.Metric:
            return cw.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                statistic=statistic,
                period=FIVE_MINUTES,
            )

        share = cw.MathExpression(
            expression="100 * offline / total",
            using_metrics={
                "offline": fleet(FLEET_METRIC_OFFLINE, "Maximum"),
                "total": fleet(FLEET_METRIC_TOTAL, "Maximum"),
            },
            label="Dispensers offline (%)",
            period=FIVE_MINUTES,
        )
        return [
            self._alarm(
                "DispensersOffline",
                share,
                config.offline_alarm_percent,
                f"More than {config.offline_alarm_percent} % of the dispensers offline for "
                "10 min (network or backend outage?); the incident message lists the sites",
                periods=2,
            ),
            self._alarm(
                "FleetCheckSilent",
                fleet(FLEET_METRIC_TOTAL, "SampleCount"),
                1,
                "The scheduled fleet check has published nothing for 15 min: offline "
                "detection and incident messages are stopped",
                periods=3,
                below=True,
                missing=cw.TreatMissingData.BREACHING,
            ),
        ]

    def _budget(self, config: EnvironmentConfig, topic: sns.ITopic) -> budgets.CfnBudget:
        """A monthly cost budget: a message at 80 % spent, and at 100 % forecast.

        It covers the whole account (a tag filter would need the tag activated for cost
        allocation first, and would miss untagged charges such as data transfer).
        """
        subscriber = budgets.CfnBudget.SubscriberProperty(
            subscription_type="SNS", address=topic.topic_arn
        )

        def notice(
            kind: str, percent: int
        ) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
            return budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=percent,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=[subscriber],
            )

        return budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"{self._prefix}-monthly",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(
                    amount=config.monthly_budget_usd, unit="USD"
                ),
            ),
            notifications_with_subscribers=[notice("ACTUAL", 80), notice("FORECASTED", 100)],
        )

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        threshold: float,
        description: str,
        *,
        periods: int = 1,
        below: bool = False,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> cw.Alarm:
        """An alarm on one metric that notifies the topic when it fires and when it clears."""
        alarm = cw.Alarm(
            self,
            name,
            alarm_name=f"{self._prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD
            if below
            else cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm

    def _failed_jobs_rule(
        self, topic: sns.ITopic, cluster: ecs.ICluster, families: list[str]
    ) -> None:
        """Send an alert when a job's task stops with a non-zero exit code, and when one
        could not start at all (its image, a secret, no address left: no exit code)."""
        for name, description, failure in (
            ("FailedJobs", "A scheduled or one-off backend task failed",
             {"containers": {"exitCode": [{"anything-but": 0}]}}),
            ("JobsFailedToStart", "A scheduled or one-off backend task could not start",
             {"stopCode": ["TaskFailedToStart"]}),
        ):  # fmt: skip
            self._job_rule(topic, cluster, families, name, description, failure)

    def _job_rule(
        self,
        topic: sns.ITopic,
        cluster: ecs.ICluster,
        families: list[str],
        name: str,
        description: str,
        failure: dict[str, object],
    ) -> None:
        events.Rule(
            self,
            name,
            description=description,
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={
                    "clusterArn": [cluster.cluster_arn],
                    "lastStatus": ["STOPPED"],
                    "group": [f"family:{family}" for family in families],
                    **failure,
                },
            ),
            targets=[
                targets.SnsTopic(
                    topic,
                    message=events.RuleTargetInput.from_text(
                        f"{self._prefix}: task {events.EventField.from_path('$.detail.group')} "
                        f"failed: {events.EventField.from_path('$.detail.stoppedReason')}"
                    ),
                )
            ],
        )
