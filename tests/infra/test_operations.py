"""Deploy order, scheduled jobs, autoscaling, alarms and the dashboard."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesis, dump, only, resources


def test_service_waits_for_the_migration(template: dict[str, Any]) -> None:
    (service_id,) = resources(template, "AWS::ECS::Service")
    (migration_id,) = resources(template, "Custom::FairrollMigration")
    depends_on = template["Resources"][service_id]["DependsOn"]
    assert migration_id in depends_on


def test_migration_runs_the_migration_task_definition(template: dict[str, Any]) -> None:
    migration = only(template, "Custom::FairrollMigration")
    assert migration["TaskDefinition"]["Ref"].startswith("ReleaseMigrate")
    assert migration["SecurityGroups"][0]["Fn::GetAtt"][0].startswith("NetworkJobsSecurityGroup")
    (migrate_td,) = [
        r["Properties"]
        for k, r in resources(template, "AWS::ECS::TaskDefinition").items()
        if k.startswith("ReleaseMigrate")
    ]
    assert migrate_td["ContainerDefinitions"][0]["Command"] == [
        "flask",
        "--app",
        "app",
        "db",
        "upgrade",
    ]


def test_migration_waits_long_enough_for_a_fargate_task(template: dict[str, Any]) -> None:
    machine = only(template, "AWS::StepFunctions::StateMachine")
    definition = dump(machine["DefinitionString"])
    # 15 s between checks, up to 30 minutes in all.
    assert '\\"IntervalSeconds\\":15' in definition
    assert '\\"MaxAttempts\\":120' in definition


def test_failed_deploys_roll_back(template: dict[str, Any]) -> None:
    service = only(template, "AWS::ECS::Service")
    breaker = service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}
    assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100


def _scheduled(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Schedule expression -> rule properties."""
    return {
        r["Properties"]["ScheduleExpression"]: r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    }


def test_purge_runs_daily_on_fargate(template: dict[str, Any]) -> None:
    purge = _scheduled(template)["cron(17 3 * * ? *)"]
    (target,) = purge["Targets"]
    assert target["EcsParameters"]["LaunchType"] == "FARGATE"
    assert target["EcsParameters"]["TaskDefinitionArn"]["Ref"].startswith("JobsPurge")


def test_offline_alerts_are_checked_every_minute(template: dict[str, Any]) -> None:
    assert set(_scheduled(template)) == {"cron(17 3 * * ? *)", "rate(1 minute)"}
    (target,) = _scheduled(template)["rate(1 minute)"]["Targets"]
    assert target["EcsParameters"]["LaunchType"] == "FARGATE"
    assert target["EcsParameters"]["TaskDefinitionArn"]["Ref"].startswith("JobsAlertsCheck")


def test_autoscaling_on_cpu_and_requests(synthesis: Synthesis, env_name: str) -> None:
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (config.min_tasks, config.max_tasks)
    metrics = sorted(
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"
        ]["PredefinedMetricType"]
        for p in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    )
    # Requests per task on each load balancer's target group (public, devices), and CPU.
    assert metrics == [
        "ALBRequestCountPerTarget",
        "ALBRequestCountPerTarget",
        "ECSServiceAverageCPUUtilization",
    ]


def test_alarms_cover_errors_latency_health_and_database(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    metric_names = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "TargetResponseTime",
        "UnHealthyHostCount",
        "HealthyHostCount",
        "CPUUtilization",
        "MemoryUtilization",
        "FreeStorageSpace",
        "FreeableMemory",
    } <= metric_names


def test_every_alarm_notifies_the_alerts_topic(template: dict[str, Any]) -> None:
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    assert len(resources(template, "AWS::CloudWatch::Alarm")) >= 12
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["OKActions"] == [{"Ref": topic_id}]


def test_failed_jobs_raise_an_alert(template: dict[str, Any]) -> None:
    patterns = [
        r["Properties"]["EventPattern"]["detail"]
        for r in resources(template, "AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
    ]
    # A task that stopped with an error, and one that never started (no exit code then).
    failures = [{k: v for k, v in p.items() if k in ("containers", "stopCode")} for p in patterns]
    assert sorted(map(dump, failures)) == sorted(
        map(
            dump,
            [
                {"containers": {"exitCode": [{"anything-but": 0}]}},
                {"stopCode": ["TaskFailedToStart"]},
            ],
        )
    )
    for pattern in patterns:
        assert pattern["lastStatus"] == ["STOPPED"]
        # purge, key rotation, alert check, create-admin, bulk enrollment
        assert len(pattern["group"]) == 5


def test_a_schedule_that_cannot_start_its_job_raises_an_alarm(template: dict[str, Any]) -> None:
    # EventBridge drops a run it could not start after its retries; nothing else would tell.
    rules = {
        rule_id
        for rule_id, rule in resources(template, "AWS::Events::Rule").items()
        if "ScheduleExpression" in rule["Properties"]
    }
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "FailedInvocations"
        and alarm["Properties"]["Namespace"] == "AWS/Events"
    }
    assert watched == rules and len(rules) == 2


def test_alert_topic_accepts_alarms_and_events_through_its_key(template: dict[str, Any]) -> None:
    (key,) = [k for i, k in resources(template, "AWS::KMS::Key").items() if i.startswith("Alerts")]
    policy = dump(key["Properties"]["KeyPolicy"])
    assert "cloudwatch.amazonaws.com" in policy
    assert "events.amazonaws.com" in policy


def test_alerts_are_mailed_to_the_configured_address(template: dict[str, Any]) -> None:
    subscription = only(template, "AWS::SNS::Subscription")
    assert subscription["Protocol"] == "email"
    assert subscription["Endpoint"] == "oncall@example.org"


def test_dashboard_shows_aggregate_app_metrics(template: dict[str, Any]) -> None:
    body = dump(only(template, "AWS::CloudWatch::Dashboard")["DashboardBody"])
    assert "SEARCH(" in body and "fairroll" in body
    assert "HealthyHostCount" in body
    # Container Insights (billed as custom metrics) is off, so its task count is not shown.
    assert "RunningTaskCount" not in body


def test_logs_expire(synthesis: Synthesis, env_name: str) -> None:
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == config.log_retention_days


def test_alarms_and_events_may_publish_to_the_topic(template: dict[str, Any]) -> None:
    policy = only(template, "AWS::SNS::TopicPolicy")["PolicyDocument"]
    publishers: set[str] = set()
    for s in policy["Statement"]:
        if s["Effect"] == "Allow" and s["Action"] == "sns:Publish":
            service = s["Principal"]["Service"]
            publishers.update([service] if isinstance(service, str) else service)
    assert publishers == {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "budgets.amazonaws.com",
    }
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert denies and all(
        s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies
    )


def test_offline_dispensers_alarm_on_the_fleet_wide_metric(
    synthesis: Synthesis, env_name: str
) -> None:
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmName", "").endswith("-DispensersOffline")
    ]
    assert alarm["Threshold"] == config.offline_alarm_percent
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    assert metrics["offline"]["MetricStat"]["Metric"] == {
        "MetricName": "DispensersOffline",
        "Namespace": "fairroll",
    }  # fleet-wide: no dimensions, so one metric whatever the fleet size
    assert "100 * offline / total" in dump(alarm["Metrics"])


def test_a_silent_fleet_check_raises_an_alarm(template: dict[str, Any]) -> None:
    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmName", "").endswith("-FleetCheckSilent")
    ]
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Namespace"] == "fairroll" and alarm["Statistic"] == "SampleCount"


def test_a_monthly_budget_notifies_the_alerts_topic(synthesis: Synthesis, env_name: str) -> None:
    template, config = synthesis.templates[env_name], synthesis.configs[env_name]
    budget = only(template, "AWS::Budgets::Budget")
    assert budget["Budget"]["BudgetLimit"] == {
        "Amount": config.monthly_budget_usd,
        "Unit": "USD",
    }
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    kinds = set()
    for entry in budget["NotificationsWithSubscribers"]:
        assert entry["Subscribers"] == [{"SubscriptionType": "SNS", "Address": {"Ref": topic_id}}]
        kinds.add(entry["Notification"]["NotificationType"])
    assert kinds == {"ACTUAL", "FORECASTED"}
    policy = dump(only(template, "AWS::SNS::TopicPolicy")["PolicyDocument"])
    assert "budgets.amazonaws.com" in policy
