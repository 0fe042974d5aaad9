"""The monthly AWS bill of one environment, by service, from its template and a workload.

    python -m infra.cost --synth production --dispensers 10000
    python -m infra.cost --template cdk.out/Fairroll-production.template.json --dispensers 1000

Reads what the synthesised CloudFormation template provisions (database class, task
sizes, load balancers, NAT gateways, alarms, keys, secrets, WAF, backups), scales the
per-dispenser load of infra/workload.toml, prices both with the public prices in
infra/prices.toml (dated), and prints one line per service. Requests, bytes and task
counts are monthly averages; the autoscaled web task count follows the template's
requests-per-task target.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PRICES_PATH = HERE / "prices.toml"
WORKLOAD_PATH = HERE / "workload.toml"
SECONDS_PER_MONTH = 730 * 3600
GOAL_PER_DISPENSER = 0.05
# ECS Container Insights (v2) bills its metrics as custom metrics: about this many per
# cluster, per service and per task definition family.
_INSIGHTS_CLUSTER, _INSIGHTS_SERVICE, _INSIGHTS_FAMILY = 8, 12, 9
# A scheduled task is billed from image pull to stop, at least one minute.
_JOB_MINUTES = 1.5


@dataclass
class Bill:
    """Monthly cost lines by service, each with how it was worked out."""

    lines: dict[str, float] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, service: str, amount: float, note: str) -> None:
        """Add ``amount`` dollars to ``service``, remembering why."""
        self.lines[service] = self.lines.get(service, 0.0) + amount
        self.notes.setdefault(service, []).append(f"{note}: ${amount:,.2f}")

    @property
    def total(self) -> float:
        """The whole month."""
        return sum(self.lines.values())


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        k: v.get("Properties", {}) for k, v in template["Resources"].items() if v["Type"] == kind
    }


def _runs_per_month(expression: str) -> float:
    """Runs a month of an EventBridge schedule: rate(N minute[s]|hour[s]) or a daily cron."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        minutes = int(rate.group(1)) * {"m": 1, "h": 60, "d": 1440}[rate.group(2)[0]]
        return 730 * 60 / minutes
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    if cron and cron.group(1).isdigit() and cron.group(2).isdigit():
        return 730 / 24  # once a day
    raise ValueError(f"cannot price the schedule {expression!r}")


@dataclass(frozen=True)
class TaskSize:
    """What Fargate bills a task definition by."""

    vcpu: float
    gb: float
    arm: bool

    def __str__(self) -> str:
        return f"{self.vcpu:g} vCPU / {self.gb:g} GB{' ARM' if self.arm else ''}"


def _task_size(template: dict[str, Any], ref: Any) -> TaskSize:
    """The size and CPU architecture of the task definition a Ref points at."""
    props = template["Resources"][ref["Ref"]]["Properties"]
    arch = props.get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64")
    return TaskSize(int(props["Cpu"]) / 1024, int(props["Memory"]) / 1024, arch == "ARM64")


def _fargate_month(prices: dict[str, Any], size: TaskSize, hours: float) -> float:
    fargate, prefix = prices["fargate"], "arm_" if size.arm else ""
    rate = size.vcpu * float(fargate[f"{prefix}vcpu_hour"])
    return (rate + size.gb * float(fargate[f"{prefix}gb_hour"])) * hours


@dataclass(frozen=True)
class Traffic:
    """Monthly-average traffic of one kind of client (dispensers or phones and browsers)."""

    rps: float
    new_connections_per_second: float
    in_gb_month: float
    out_gb_month: float


@dataclass(frozen=True)
class Load:
    """Monthly-average traffic of the whole fleet."""

    device: Traffic
    visitor: Traffic
    token_issues_per_second: float

    @property
    def device_rps(self) -> float:
        """Dispenser requests per second."""
        return self.device.rps

    @property
    def visitor_rps(self) -> float:
        """Visitor (phone) requests per second."""
        return self.visitor.rps

    @property
    def rps(self) -> float:
        """Requests per second reaching the load balancers."""
        return self.device.rps + self.visitor.rps

    @property
    def out_gb_month(self) -> float:
        """Bytes sent to the internet a month, in GB."""
        return self.device.out_gb_month + self.visitor.out_gb_month


def fleet_load(workload: dict[str, Any], dispensers: int) -> Load:
    """Scale the per-dispenser workload to the fleet."""
    device, visitor = workload["device"], workload["visitor"]
    kb_to_gb_month = SECONDS_PER_MONTH / 1024 / 1024
    device_rps = dispensers * sum(
        device[k] for k in ("heartbeat", "config_poll", "redemption", "event_upload")
    )
    device_connections = device_rps / device["requests_per_connection"]
    tokens = dispensers * visitor["token_issue"]
    visitor_rps = tokens * visitor["requests_per_token"]
    visitor_connections = visitor_rps / visitor["requests_per_connection"]
    # Each new TLS connection sends the certificate chain (the same on both hostnames).
    handshake_kb = device["tls_handshake_kb"]
    return Load(
        device=Traffic(
            rps=device_rps,
            new_connections_per_second=device_connections,
            in_gb_month=device_rps * device["request_kb"] * kb_to_gb_month,
            out_gb_month=(device_rps * device["response_kb"] + device_connections * handshake_kb)
            * kb_to_gb_month,
        ),
        visitor=Traffic(
            rps=visitor_rps,
            new_connections_per_second=visitor_connections,
            in_gb_month=visitor_rps * visitor["request_kb"] * kb_to_gb_month,
            out_gb_month=(visitor_rps * visitor["response_kb"] + visitor_connections * handshake_kb)
            * kb_to_gb_month,
        ),
        token_issues_per_second=tokens,
    )


def custom_metric_count() -> tuple[int, int]:
    """(distinct custom metrics, PutMetricData calls per publication) the backend sends.

    Counted by calling the backend's own metric code on one fleet job report: the set is
    fleet-wide and fixed, so it does not depend on the number of sites or dispensers.
    """
    from backend.fleet_job import FleetJobReport
    from backend.metrics import cloudwatch_metric_data
    from backend.services.fleet_check import FleetFigures, Intake

    figures = FleetFigures(
        dispensers=0, offline=0, empty=0, low_paper=0, jammed=0, open_alerts=0, dispenses={}
    )
    report = FleetJobReport(
        intake=Intake(known=0, heard=0),
        offline_held=False,
        changes=[],
        readings=0,
        forecasts=0,
        hours=0,
        figures=figures,
        seconds=0.0,
    )
    data = cloudwatch_metric_data(report, now=datetime.now(UTC))
    names = {(d["MetricName"], json.dumps(d.get("Dimensions", []))) for d in data}
    return len(names), math.ceil(len(data) / 20)


def price(
    template: dict[str, Any], workload: dict[str, Any], prices: dict[str, Any], dispensers: int
) -> Bill:
    """The monthly bill of the template's resources under the fleet's load."""
    bill, hours = Bill(), prices["meta"]["hours_per_month"]
    load = fleet_load(workload, dispensers)
    sites = max(1, round(dispensers / workload["dispensers_per_site"]))
    _compute(bill, template, prices, load, hours)
    _database(bill, template, prices, workload, dispensers, hours)
    _network(bill, template, prices, workload, load, hours)
    _waf(bill, template, prices, load)
    _observability(bill, template, prices, workload, sites)
    _secrets_and_keys(bill, template, prices, load)
    _cache(bill, template, prices, load, hours)
    return bill


def _web_tasks(template: dict[str, Any], load: Load) -> int:
    """The web tasks the autoscaling keeps running for the load (a monthly average)."""
    (target,) = _resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    # A task serves both target groups, and each group's policy tracks its own requests per
    # task (the dispensers' on the device balancer, the phones' on the public one): the
    # service runs as many tasks as the more demanding of the two asks for.
    wanted = target["MinCapacity"]
    for policy in _resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        tracking = policy["TargetTrackingScalingPolicyConfiguration"]
        if "ALBRequestCount" not in json.dumps(tracking):
            continue
        device = "DeviceLoadBalancer" in json.dumps(tracking["PredefinedMetricSpecification"])
        rps = load.device_rps if device else load.visitor_rps
        wanted = max(wanted, math.ceil(rps * 60 / tracking["TargetValue"]))
    return int(min(max(wanted, target["MinCapacity"]), target["MaxCapacity"]))


def _scheduled_task_hours(template: dict[str, Any]) -> float:
    """Hours a month that scheduled tasks run (each run billed as _JOB_MINUTES)."""
    return sum(
        _runs_per_month(rule["ScheduleExpression"]) * len(rule.get("Targets", []))
        for rule in _resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in rule
    ) * (_JOB_MINUTES / 60)


def _compute(
    bill: Bill, template: dict[str, Any], prices: dict[str, Any], load: Load, hours: float
) -> None:
    """Fargate: the autoscaled web tasks and every scheduled task run."""
    (service,) = _resources(template, "AWS::ECS::Service").values()
    size = _task_size(template, service["TaskDefinition"])
    tasks = _web_tasks(template, load)
    bill.add(
        "Fargate",
        tasks * _fargate_month(prices, size, hours),
        f"{tasks} web tasks of {size} ({load.rps:,.0f} req/s)",
    )
    for rule in _resources(template, "AWS::Events::Rule").values():
        if "ScheduleExpression" not in rule:
            continue
        runs = _runs_per_month(rule["ScheduleExpression"])
        for job in rule.get("Targets", []):
            size = _task_size(template, job["EcsParameters"]["TaskDefinitionArn"])
            task_hours = runs * _JOB_MINUTES / 60
            bill.add(
                "Fargate",
                _fargate_month(prices, size, task_hours),
                f"{runs:,.0f} scheduled runs ({rule['ScheduleExpression']})",
            )


def _database(
    bill: Bill,
    template: dict[str, Any],
    prices: dict[str, Any],
    workload: dict[str, Any],
    dispensers: int,
    hours: float,
) -> None:
    """RDS instance and storage, and the AWS Backup copies (both regions)."""
    rds = prices["rds"]
    for db in _resources(template, "AWS::RDS::DBInstance").values():
        copies = 2 if db.get("MultiAZ") else 1
        klass = db["DBInstanceClass"]
        if klass not in rds["instance_hour"]:
            raise ValueError(f"no price for {klass} in prices.toml")
        bill.add(
            "RDS PostgreSQL",
            rds["instance_hour"][klass] * hours * copies,
            f"{klass}{' Multi-AZ' if copies == 2 else ''}",
        )
        storage = int(db["AllocatedStorage"])
        bill.add("RDS PostgreSQL", storage * rds["gp3_gb_month"] * copies, f"{storage} GB gp3")
    data_gb = workload["database"]["gb_per_10000_dispensers"] * dispensers / 10_000
    plans = _resources(template, "AWS::Backup::BackupPlan")
    if plans:
        copies = "CopyActions" in json.dumps(plans)
        regions = 2 if copies else 1
        stored = data_gb * 1.5  # a full snapshot plus the daily increments kept
        bill.add(
            "AWS Backup",
            stored * prices["backup"]["rds_snapshot_gb_month"] * regions,
            f"~{stored:,.0f} GB of snapshots in {regions} region(s)",
        )
        if copies:
            moved = data_gb * 0.15 * 30  # raw data turns over in a week
            bill.add(
                "AWS Backup",
                moved * prices["network"]["inter_region_gb"],
                f"~{moved:,.0f} GB copied to the second region",
            )


def _network(
    bill: Bill,
    template: dict[str, Any],
    prices: dict[str, Any],
    workload: dict[str, Any],
    load: Load,
    hours: float,
) -> None:
    """Load balancers (hours and LCUs), NAT gateways, public addresses, data out."""
    alb, net = prices["alb"], prices["network"]
    balancers = _resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    bill.add("Load balancing", len(balancers) * alb["hour"] * hours, f"{len(balancers)} ALB")
    # LCUs are counted per load balancer: with a device balancer, each carries its share.
    shares = (
        [("device", load.device), ("public", load.visitor)]
        if _has_device_balancer(template)
        else [("public", _sum(load.device, load.visitor))]
    )
    for name, traffic in shares:
        lcus = max(
            traffic.new_connections_per_second / alb["lcu_new_connections_per_second"],
            (traffic.in_gb_month + traffic.out_gb_month) / hours / alb["lcu_gb_per_hour"],
            traffic.new_connections_per_second * 60 / alb["lcu_active_connections"],
        )
        bill.add(
            "Load balancing", lcus * alb["lcu_hour"] * hours, f"{lcus:,.1f} LCU ({name}) on average"
        )
    nats = len(_resources(template, "AWS::EC2::NatGateway"))
    logs_gb = workload["logs"]["app_gb_month"]
    # Without NAT the tasks reach AWS's regional endpoints directly: no processing charge.
    if nats:
        bill.add("NAT gateways", nats * prices["nat"]["hour"] * hours, f"{nats} NAT gateways")
        bill.add(
            "NAT gateways",
            (logs_gb + 5) * prices["nat"]["gb_processed"],
            "AWS API traffic (logs, metrics, secrets; image layers use the S3 endpoint)",
        )
    addresses = 2 * len(balancers) + len(_resources(template, "AWS::EC2::EIP"))
    bill.add(
        "Public IPv4",
        addresses * net["public_ipv4_hour"] * hours,
        f"{addresses} addresses (load balancers, NAT gateways)",
    )
    # Tasks without NAT hold a public address each while they run.
    if _tasks_have_public_addresses(template):
        web = _web_tasks(template, load)
        bill.add(
            "Public IPv4", web * net["public_ipv4_hour"] * hours, f"{web} web tasks' addresses"
        )
        job_hours = _scheduled_task_hours(template)
        bill.add(
            "Public IPv4",
            job_hours * net["public_ipv4_hour"],
            f"scheduled tasks' addresses ({job_hours:,.0f} task-hours)",
        )
    billable = max(0.0, load.out_gb_month - net["internet_out_free_gb"])
    bill.add(
        "Data transfer out",
        billable * net["internet_out_gb"],
        f"{load.out_gb_month:,.0f} GB to phones and dispensers",
    )


def _waf(bill: Bill, template: dict[str, Any], prices: dict[str, Any], load: Load) -> None:
    """Web ACLs, their rules, and every request through an associated load balancer."""
    waf = prices["waf"]
    for acl_id, acl in _resources(template, "AWS::WAFv2::WebACL").items():
        rules = len(acl.get("Rules", []))
        bill.add(
            "WAF", waf["web_acl_month"] + rules * waf["rule_month"], f"1 web ACL, {rules} rules"
        )
        for association in _resources(template, "AWS::WAFv2::WebACLAssociation").values():
            if acl_id not in json.dumps(association["WebACLArn"]):
                continue
            balancer = json.dumps(association["ResourceArn"])
            rps = load.device_rps if "Device" in balancer else load.rps
            if "Device" not in balancer and _has_device_balancer(template):
                rps = load.visitor_rps
            requests = rps * SECONDS_PER_MONTH / 1e6
            bill.add("WAF", requests * waf["million_requests"], f"{requests:,.0f} M requests")


def _sum(a: Traffic, b: Traffic) -> Traffic:
    return Traffic(
        rps=a.rps + b.rps,
        new_connections_per_second=a.new_connections_per_second + b.new_connections_per_second,
        in_gb_month=a.in_gb_month + b.in_gb_month,
        out_gb_month=a.out_gb_month + b.out_gb_month,
    )


def _tasks_have_public_addresses(template: dict[str, Any]) -> bool:
    """Whether the web service runs its tasks with public addresses (no NAT gateways)."""
    (service,) = _resources(template, "AWS::ECS::Service").values()
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    return bool(network.get("AssignPublicIp") == "ENABLED")


def _has_device_balancer(template: dict[str, Any]) -> bool:
    return any(
        "Device" in k for k in _resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    )


def _observability(
    bill: Bill,
    template: dict[str, Any],
    prices: dict[str, Any],
    workload: dict[str, Any],
    sites: int,
) -> None:
    """Custom metrics and their calls, Container Insights, alarms, dashboards, logs."""
    cw = prices["cloudwatch"]
    metrics, calls = custom_metric_count()
    publishers = workload["cloudwatch"]["metric_publishers"]
    bill.add("CloudWatch", metrics * cw["metric_month"], f"{metrics} fleet-wide custom metrics")
    puts = calls * publishers * 730 * 60
    bill.add(
        "CloudWatch", puts / 1000 * cw["put_metric_data_per_1000"], f"{puts:,.0f} PutMetricData"
    )
    if _container_insights(template):
        families = len(_resources(template, "AWS::ECS::TaskDefinition"))
        services = len(_resources(template, "AWS::ECS::Service"))
        insights = _INSIGHTS_CLUSTER + _INSIGHTS_SERVICE * services + _INSIGHTS_FAMILY * families
        bill.add(
            "CloudWatch", insights * cw["metric_month"], f"~{insights} Container Insights metrics"
        )
    alarm_metrics = sum(
        max(1, sum(1 for m in a.get("Metrics", []) if "MetricStat" in m))
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
    )
    bill.add(
        "CloudWatch", alarm_metrics * cw["alarm_metric_month"], f"alarms on {alarm_metrics} metrics"
    )
    dashboards = len(_resources(template, "AWS::CloudWatch::Dashboard"))
    bill.add("CloudWatch", max(0, dashboards - 3) * cw["dashboard_month"], "dashboards (3 free)")
    logs = workload["logs"]
    rps = fleet_load(workload, sites * workload["dispensers_per_site"]).rps
    ingest = logs["app_gb_month"] + rps * logs["bytes_per_request"] * SECONDS_PER_MONTH / 1e9
    bill.add(
        "CloudWatch",
        ingest * (cw["logs_ingest_gb"] + logs["stored_months"] * cw["logs_store_gb_month"]),
        f"{ingest:,.1f} GB of logs a month",
    )


def _container_insights(template: dict[str, Any]) -> bool:
    """Whether a cluster of the template has Container Insights switched on."""
    return any(
        setting.get("Name") == "containerInsights" and setting.get("Value") != "disabled"
        for cluster in _resources(template, "AWS::ECS::Cluster").values()
        for setting in cluster.get("ClusterSettings", [])
    )


def _secrets_and_keys(
    bill: Bill, template: dict[str, Any], prices: dict[str, Any], load: Load
) -> None:
    """Secrets (each task start reads its injected secrets) and customer-managed keys."""
    secrets = _resources(template, "AWS::SecretsManager::Secret")
    sm = prices["secrets_manager"]
    starts = sum(
        _runs_per_month(r["ScheduleExpression"])
        for r in _resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r
    )
    calls = starts * len(secrets)
    bill.add("Secrets Manager", len(secrets) * sm["secret_month"], f"{len(secrets)} secrets")
    bill.add("Secrets Manager", calls / 10_000 * sm["per_10000_calls"], f"{calls:,.0f} reads")
    keys = len(_resources(template, "AWS::KMS::Key"))
    if "CopyActions" in json.dumps(_resources(template, "AWS::Backup::BackupPlan")):
        keys += 1  # the second region's key, in the backup-copy stack
    kms = prices["kms"]
    bill.add("KMS", keys * kms["key_month"], f"{keys} customer-managed keys")
    bill.add("KMS", calls / 10_000 * kms["per_10000_requests"], "decrypts for those reads")


def _cache(
    bill: Bill, template: dict[str, Any], prices: dict[str, Any], load: Load, hours: float
) -> None:
    """ElastiCache Serverless (rate-limit counters): minimum storage and ECPUs."""
    if not _resources(template, "AWS::ElastiCache::ServerlessCache"):
        return
    ec = prices["elasticache"]
    bill.add("ElastiCache", ec["minimum_gb"] * ec["gb_hour"] * hours, "minimum data stored")
    ecpu = load.visitor_rps * 4 * SECONDS_PER_MONTH / 1e6  # a few commands per visitor request
    bill.add("ElastiCache", ecpu * ec["million_ecpu"], f"{ecpu:,.0f} M ECPUs")


def synthesise(env_name: str) -> dict[str, Any]:
    """The environment's template, synthesised offline (a stand-in certificate if needed)."""
    import dataclasses
    import tempfile

    from infra.app import add_stack, new_app
    from infra.config import DEFAULT_CONFIG_PATH, parse_environments

    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    config = parse_environments(data)[env_name]
    stand_in = (
        f"arn:aws:acm:{config.region}:123456789012:certificate/{'1' * 8}-1111-1111-1111-{'1' * 12}"
    )
    # Pricing needs neither a real certificate nor a real base image: stand-ins if unset.
    config = dataclasses.replace(
        config, certificate_arn=stand_in, base_image="python:3.11-slim@sha256:" + "1" * 64
    )
    config.validate()
    with tempfile.TemporaryDirectory() as outdir:
        app = new_app(outdir=outdir, context={"aws:cdk:disable-asset-staging": True})
        stack = add_stack(app, config)
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def report(bill: Bill, prices: dict[str, Any], dispensers: int, *, detail: bool) -> str:
    """The bill as text, largest service first, with the per-dispenser figure."""
    meta = prices["meta"]
    lines = [f"Monthly cost, {dispensers:,} dispensers, {meta['region']}, prices of {meta['date']}"]
    for service, amount in sorted(bill.lines.items(), key=lambda item: -item[1]):
        lines.append(f"  {service:<20} ${amount:>10,.2f}")
        if detail:
            lines += [f"      {note}" for note in bill.notes[service]]
    per = bill.total / dispensers
    lines.append(f"  {'Total':<20} ${bill.total:>10,.2f}   (${per:.4f} per dispenser-month)")
    return "\n".join(lines)


def set_figure(workload: dict[str, Any], assignment: str) -> None:
    """Apply one ``table.key=number`` change to the workload; ValueError if it is not one."""
    path, _, raw = assignment.partition("=")
    *tables, key = path.split(".")
    target = workload
    for table in tables:
        target = target.get(table, {})
    if key not in target:
        raise ValueError(f"--set {assignment}: no workload figure {path!r}")
    try:
        target[key] = type(target[key])(float(raw)) if isinstance(target[key], int) else float(raw)
    except ValueError:
        raise ValueError(f"--set {assignment}: {raw!r} is not a number") from None


def main(argv: list[str] | None = None) -> int:
    """Command line: price a template (or synthesise one) for a fleet size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--template", type=Path, help="a synthesised template (JSON)")
    source.add_argument("--synth", metavar="ENV", help="synthesise this environment first")
    parser.add_argument("--dispensers", type=int, action="append", required=True)
    parser.add_argument("--workload", type=Path, default=WORKLOAD_PATH)
    parser.add_argument("--prices", type=Path, default=PRICES_PATH)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=NUMBER",
        help="change one workload figure, e.g. device.requests_per_connection=60",
    )
    parser.add_argument("--detail", action="store_true", help="show how each line was worked out")
    parser.add_argument("--json", action="store_true", help="print the lines as JSON")
    args = parser.parse_args(argv)
    template = (
        json.loads(args.template.read_text(encoding="utf-8"))
        if args.template
        else synthesise(args.synth)
    )
    prices = tomllib.loads(args.prices.read_text(encoding="utf-8"))
    workload = tomllib.loads(args.workload.read_text(encoding="utf-8"))
    for assignment in args.set:
        try:
            set_figure(workload, assignment)
        except ValueError as error:
            parser.error(str(error))
    results = {}
    for dispensers in args.dispensers:
        if dispensers < 1:
            parser.error("--dispensers must be at least 1")
        bill = price(template, workload, prices, dispensers)
        results[dispensers] = bill
        if not args.json:
            print(report(bill, prices, dispensers, detail=args.detail))
    if args.json:
        print(json.dumps({n: {"lines": b.lines, "total": b.total} for n, b in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
