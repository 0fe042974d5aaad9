"""The CloudWatch dashboard: traffic, errors, capacity, database, fleet-wide app metrics."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_rds as rds
from constructs import Construct

METRICS_NAMESPACE = "fairroll"
FIVE_MINUTES = Duration.minutes(5)


def build_dashboard(
    scope: Construct,
    *,
    name: str,
    alarms: list[cw.Alarm],
    service: ecs.FargateService,
    target_group: elbv2.ApplicationTargetGroup,
    alb: elbv2.IApplicationLoadBalancerMetrics,
    device_alb: elbv2.IApplicationLoadBalancerMetrics,
    database: rds.DatabaseInstanceBase,
    cluster: ecs.ICluster | None,
) -> cw.Dashboard:
    """One page for the on-call engineer: traffic, errors, capacity, database, app.

    ``cluster`` is given only when Container Insights is on: then the task count graph
    shows its RunningTaskCount beside the load balancer's healthy targets.
    """
    tg = target_group.metrics
    tasks: list[cw.IMetric] = [tg.healthy_host_count(period=Duration.minutes(1))]
    if cluster is not None:
        tasks.insert(
            0,
            cw.Metric(
                namespace="ECS/ContainerInsights",
                metric_name="RunningTaskCount",
                dimensions_map={
                    "ClusterName": cluster.cluster_name,
                    "ServiceName": service.service_name,
                },
                statistic="Average",
                period=Duration.minutes(1),
            ),
        )
    app_metrics = cw.MathExpression(
        expression=f"SEARCH('Namespace=\"{METRICS_NAMESPACE}\"', 'Sum', 300)",
        using_metrics={},
        label="",
        period=FIVE_MINUTES,
    )
    dashboard = cw.Dashboard(scope, "Dashboard", dashboard_name=name)
    dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=alarms, width=24, height=4))
    dashboard.add_widgets(
        _graph(
            "Requests (public, devices)",
            [
                alb.request_count(period=FIVE_MINUTES),
                device_alb.request_count(period=FIVE_MINUTES),
            ],
        ),
        _graph(
            "Errors (5 min)",
            [
                tg.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=FIVE_MINUTES),
                alb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=FIVE_MINUTES),
                tg.http_code_target(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, period=FIVE_MINUTES),
            ],
        ),
        _graph(
            "Response time",
            [
                tg.target_response_time(statistic=s, period=FIVE_MINUTES)
                for s in ("p50", "p95", "p99")
            ],
        ),
    )
    dashboard.add_widgets(
        _graph("Backend tasks", tasks),
        _graph(
            "Backend CPU and memory (%)",
            [
                service.metric_cpu_utilization(period=FIVE_MINUTES),
                service.metric_memory_utilization(period=FIVE_MINUTES),
            ],
        ),
        _graph(
            "Database",
            [
                database.metric_cpu_utilization(period=FIVE_MINUTES),
                database.metric_database_connections(period=FIVE_MINUTES),
            ],
        ),
    )
    dashboard.add_widgets(
        _graph(
            "Database free storage (bytes)",
            [database.metric_free_storage_space(period=FIVE_MINUTES)],
            width=8,
        ),
        _graph("fairroll metrics (fleet-wide aggregates)", [app_metrics], width=16),
    )
    return dashboard


def _graph(title: str, metrics: list[cw.IMetric], width: int = 8) -> cw.GraphWidget:
    """A line graph widget of the given width on the 24-column dashboard grid."""
    return cw.GraphWidget(title=title, left=metrics, width=width, height=6)
