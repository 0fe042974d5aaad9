"""The VPC across two availability zones and the security groups between the tiers."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.stacks.common import log_retention

APP_PORT = 8000
POSTGRES_PORT = 5432
REDIS_PORT = 6379


class Network(Construct):
    """Public subnets for the load balancers, private ones for tasks (behind NAT gateways)
    or, with ``nat_gateways = 0``, tasks in the public subnets; isolated ones for data."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        # Without NAT gateways the tasks take the public subnets and a public address of
        # their own: their security groups admit only the load balancers, and outbound
        # calls (ECR, logs, secrets, metrics) go straight to AWS's public endpoints. The
        # app subnets' address range stays reserved, so the data subnets keep theirs.
        self.tasks_public = config.tasks_in_public_subnets
        self.task_subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PUBLIC
            if self.tasks_public
            else ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="app",
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
                    if self.tasks_public
                    else ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=20,
                    reserved=self.tasks_public,
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )
        # Image layers come from S3: a gateway endpoint is free and keeps that traffic
        # off the (metered) NAT gateways and inside the VPC.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Rejected traffic only: what an incident review needs, at a fraction of the
        # CloudWatch Logs ingestion cost of logging every accepted connection.
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.alb_security_group = self._group("Alb", "The public load balancer")
        self.app_security_group = self._group("App", "Backend web tasks")
        self.jobs_security_group = self._group("Jobs", "One-off and scheduled backend tasks")
        self.database_security_group = self._group("Database", "PostgreSQL")
        self.redis_security_group = self._group("Redis", "Rate-limit counters")
        self._allow_traffic()

    def _group(self, name: str, description: str) -> ec2.SecurityGroup:
        """A security group in this VPC that allows all outbound traffic (for AWS APIs)."""
        return ec2.SecurityGroup(
            self, f"{name}SecurityGroup", vpc=self.vpc, description=description
        )

    def _allow_traffic(self) -> None:
        """Open exactly the paths the system uses: internet to ALB to tasks to data."""
        for port in (443, 80):  # 80 only answers with a redirect to HTTPS
            self.alb_security_group.add_ingress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(port), "Visitors, dispensers and operators"
            )
        self.app_security_group.add_ingress_rule(
            self.alb_security_group, ec2.Port.tcp(APP_PORT), "From the load balancer"
        )
        for source in (self.app_security_group, self.jobs_security_group):
            self.database_security_group.add_ingress_rule(
                source, ec2.Port.tcp(POSTGRES_PORT), "From backend tasks"
            )
        self.redis_security_group.add_ingress_rule(
            self.app_security_group, ec2.Port.tcp(REDIS_PORT), "From backend web tasks"
        )
