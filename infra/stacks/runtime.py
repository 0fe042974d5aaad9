"""The backend container as every task runs it: one image, one configuration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.stacks.network import APP_PORT

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
CONTAINER_NAME = "app"
# How long ECS waits after SIGTERM before it kills a task's container.
GRACEFUL_STOP_SECONDS = 40
# The only writable path in a task (the Dockerfile declares it as a VOLUME).
WRITABLE_PATH = "/tmp"  # noqa: S108
MIGRATE_COMMAND = ["flask", "--app", "app", "db", "upgrade"]
PURGE_COMMAND = ["flask", "--app", "app", "purge"]
ROTATE_KEYS_COMMAND = ["flask", "--app", "app", "keys", "rotate"]
ALERTS_CHECK_COMMAND = ["flask", "--app", "app", "alerts", "check"]
# One-off operator tasks (docs/operations.md); the operator adds the inputs as environment
# overrides (FAIRROLL_ADMIN_EMAIL; FAIRROLL_ENROLL_CSV and FAIRROLL_ENROLL_SHEET).
CREATE_ADMIN_COMMAND = ["flask", "--app", "app", "users", "create-admin"]
BULK_ENROLL_COMMAND = ["flask", "--app", "app", "dispensers", "enroll-bulk"]
# The container's own liveness probe; /startedz (the database heard lately) is the load balancers'.
_HEALTH_COMMAND = (
    'python -c "import urllib.request; '
    "urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)\""
)


def backend_image(base_image: str) -> ecs.ContainerImage:
    """The Dockerfile at the repository root on the given base, built by `cdk deploy`
    for linux/arm64 (the base must be a multi-platform digest)."""
    # Synthesis only hashes the build context (filtered by .dockerignore); Docker is
    # needed at deploy time, not here.
    return ecs.ContainerImage.from_asset(
        str(REPOSITORY_ROOT),
        platform=ecr_assets.Platform.LINUX_ARM64,
        ignore_mode=IgnoreMode.DOCKER,
        build_args={"PYTHON_IMAGE": base_image},
    )


@dataclass(frozen=True)
class AppRuntime:
    """What every backend container shares: image, environment, secrets and log group."""

    image: ecs.ContainerImage
    environment: dict[str, str]
    secrets: dict[str, ecs.Secret]
    log_group: logs.ILogGroup

    def task_definition(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role: iam.IRole,
        cpu: int,
        memory_mib: int,
        command: Sequence[str] | None = None,
        environment: dict[str, str] | None = None,
    ) -> ecs.FargateTaskDefinition:
        """A Fargate task definition running the backend image with this configuration."""
        definition = ecs.FargateTaskDefinition(
            scope,
            construct_id,
            cpu=cpu,
            memory_limit_mib=memory_mib,
            task_role=role,
            runtime_platform=ecs.RuntimePlatform(
                # Graviton: about 20 % cheaper per vCPU-hour than x86 on Fargate; every
                # locked dependency has an aarch64 wheel (docs/operations.md, "The image").
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        # The root file system is read-only; gunicorn and Python need a writable /tmp.
        definition.add_volume(name="tmp")
        is_web = command is None
        container = definition.add_container(
            CONTAINER_NAME,
            image=self.image,
            command=list(command) if command else None,
            environment={**self.environment, **(environment or {})},
            secrets=self.secrets,
            readonly_root_filesystem=True,
            essential=True,
            # Longer than gunicorn's graceful_timeout (30 s): its workers finish their
            # requests and exit before ECS would kill them.
            stop_timeout=Duration.seconds(GRACEFUL_STOP_SECONDS),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=construct_id.lower(), log_group=self.log_group
            ),
            port_mappings=[ecs.PortMapping(container_port=APP_PORT)] if is_web else None,
            health_check=ecs.HealthCheck(
                command=["CMD-SHELL", _HEALTH_COMMAND],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(30),
            )
            if is_web
            else None,
        )
        container.add_mount_points(
            ecs.MountPoint(container_path=WRITABLE_PATH, source_volume="tmp", read_only=False)
        )
        return definition


def task_role(scope: Construct, construct_id: str, description: str) -> iam.Role:
    """An empty role for one kind of backend task; callers grant exactly what it needs."""
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        description=description,
    )
