"""The web tier: Fargate service behind an HTTPS Application Load Balancer, autoscaled."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.stacks.network import APP_PORT, Network
from infra.stacks.runtime import AppRuntime

# The target groups' check (backend/health.py): healthy once the process has reached the
# database and while it has heard from it within a grace (3 minutes), so a new version
# that cannot reach it is rolled back, while a database failover does not make every
# task fail its checks and be replaced at once.
HEALTH_CHECK_PATH = "/startedz"
# Served by the backend for scrapers inside the VPC only (with a bearer token); the
# public listener answers 404 for it before any task sees the request.
PRIVATE_PATHS = ["/metrics", "/metrics/*"]
# The only paths the device load balancer forwards: the dispensers' API. Everything else
# there (visitor pages, admin, /metrics) is answered 404 by the load balancer itself.
DEVICE_PATHS = ["/api/v1/device/*"]
# Longer than the dispenser's heartbeat interval (60 s), so a dispenser that keeps its
# connection open reuses it instead of paying a new TLS handshake every minute. The
# server's keep-alive (backend/gunicorn_conf.py) must stay longer than this, so the
# balancer closes idle connections first (tests/infra/test_device_path.py).
DEVICE_IDLE_TIMEOUT_SECONDS = 120


class WebService(Construct):
    """Backend tasks (private subnets, or public ones without NAT, never reachable but
    through the load balancers), reached through two internet-facing load balancers.

    The public one (visitor pages, visitor API, admin UI) sits behind the web ACL
    (infra/stacks/firewall.py). The device one serves only the device API, on its own
    hostname, without a web ACL: WAF bills every request it inspects, two thirds of a
    city's requests are dispenser heartbeats and polls, and each of those is already
    authenticated by its device key and limited per dispenser by the backend.
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
        logs_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.task_definition = runtime.task_definition(
            self,
            "Web",
            role=role,
            cpu=config.task_cpu,
            memory_mib=config.task_memory_mib,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=config.min_tasks,
            vpc_subnets=network.task_subnets,
            security_groups=[network.app_security_group],
            assign_public_ip=network.tasks_public,
            # A new version that never becomes healthy is rolled back automatically.
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self.load_balancer = self._load_balancer(config, network, logs_bucket)
        self.target_group = self._listeners(config, network)
        self.device_load_balancer = self._load_balancer(
            config,
            network,
            logs_bucket,
            name="DeviceLoadBalancer",
            idle_seconds=DEVICE_IDLE_TIMEOUT_SECONDS,
            log_prefix="device-alb",
        )
        self.device_target_group = self._device_listener(config, network)
        self._autoscale(config)

    def _load_balancer(
        self,
        config: EnvironmentConfig,
        network: Network,
        logs_bucket: s3.IBucket,
        *,
        name: str = "LoadBalancer",
        idle_seconds: int = 60,
        log_prefix: str = "alb",
    ) -> elbv2.ApplicationLoadBalancer:
        """An internet-facing load balancer in the public subnets, with access logs (the
        public one, and the dispensers' one, which has no web ACL)."""
        alb = elbv2.ApplicationLoadBalancer(
            self,
            name,
            vpc=network.vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=network.alb_security_group,
            drop_invalid_header_fields=True,
            deletion_protection=config.deletion_protection,
            idle_timeout=Duration.seconds(idle_seconds),
        )
        alb.log_access_logs(logs_bucket, prefix=log_prefix)
        return alb

    def _listeners(
        self, config: EnvironmentConfig, network: Network
    ) -> elbv2.ApplicationTargetGroup:
        """HTTPS (TLS 1.2+) to the tasks; plain HTTP only redirects to HTTPS."""
        target_group = self._target_group("Targets", network)
        listener = self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[
                acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn)
            ],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_target_groups=[target_group],
            open=False,  # the security group already admits the internet
        )
        listener.add_action(
            "NotPublic",
            priority=1,
            conditions=[elbv2.ListenerCondition.path_patterns(PRIVATE_PATHS)],
            action=elbv2.ListenerAction.fixed_response(
                404, content_type="text/plain", message_body="Not Found"
            ),
        )
        # Dispensers use their own hostname (the device load balancer, not inspected by the
        # web ACL); here the device API is refused, so none is billed through the ACL.
        listener.add_action(
            "DevicesElsewhere",
            priority=2,
            conditions=[elbv2.ListenerCondition.path_patterns(DEVICE_PATHS)],
            action=elbv2.ListenerAction.fixed_response(
                421,
                content_type="text/plain",
                message_body=f"Dispensers use https://{config.device_host}\n",
            ),
        )
        self.load_balancer.add_redirect(source_port=80, target_port=443, open=False)
        return target_group

    def _target_group(self, construct_id: str, network: Network) -> elbv2.ApplicationTargetGroup:
        """The web tasks as targets, health-checked on HEALTH_CHECK_PATH."""
        return elbv2.ApplicationTargetGroup(
            self,
            construct_id,
            vpc=network.vpc,
            port=APP_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            targets=[self.service],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=HEALTH_CHECK_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )

    def _device_listener(
        self, config: EnvironmentConfig, network: Network
    ) -> elbv2.ApplicationTargetGroup:
        """HTTPS only (dispensers never use plain HTTP); forwards the device API, 404 else."""
        target_group = self._target_group("DeviceTargets", network)
        listener = self.device_load_balancer.add_listener(
            "DeviceHttps",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[
                acm.Certificate.from_certificate_arn(
                    self, "DeviceCertificate", config.device_certificate
                )
            ],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=elbv2.ListenerAction.fixed_response(
                404, content_type="text/plain", message_body="Not Found"
            ),
            open=False,  # the security group already admits the internet
        )
        listener.add_action(
            "DeviceApi",
            priority=1,
            conditions=[elbv2.ListenerCondition.path_patterns(DEVICE_PATHS)],
            action=elbv2.ListenerAction.forward([target_group]),
        )
        return target_group

    def _autoscale(self, config: EnvironmentConfig) -> None:
        """Scale out on CPU and on requests per task (on either load balancer), whichever
        asks for more tasks."""
        scaling = self.service.auto_scale_task_count(
            min_capacity=config.min_tasks, max_capacity=config.max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=config.cpu_target_percent,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        # Each policy sees only its own target group's requests per task; their targets
        # add up to the task's, split by the device balancer's share of the requests.
        device_target = config.device_requests_per_target_per_minute
        scaling.scale_on_request_count(
            "Requests",
            requests_per_target=config.requests_per_target_per_minute - device_target,
            target_group=self.target_group,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        scaling.scale_on_request_count(
            "DeviceRequests",
            requests_per_target=device_target,
            target_group=self.device_target_group,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
