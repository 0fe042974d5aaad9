"""Stateful resources: PostgreSQL, the secrets, the export and log buckets, Redis."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.stacks.common import log_retention
from infra.stacks.network import POSTGRES_PORT, Network

# A full version: a bare major ("17") can no longer create new instances. Minor upgrades
# are applied by RDS in the maintenance window (auto_minor_version_upgrade).
_ENGINE = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9)
_DATABASE_LOGS = ("postgresql", "upgrade")
DATABASE_NAME = "fairroll"
DATABASE_USER = "fairroll"


class Data(Construct):
    """Everything that holds state; the stateless tasks get references to it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        prefix = f"fairroll/{config.name}"
        # One customer-managed key for the data: database, snapshots, secrets, operator
        # files. Unlike the AWS-managed keys, its snapshots can be copied to another
        # region and shared with a backup account, and its policy is ours to read.
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/fairroll-{config.name}-data",
            description=f"fairroll {config.name}: database, backups, secrets, operator files",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.app_secret = secretsmanager.Secret(
            self,
            "AppSecret",
            encryption_key=self.key,
            secret_name=f"{prefix}/app-secret-key",
            description="Flask SECRET_KEY: signs visitor cookies and operator sessions",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        self.metrics_token = secretsmanager.Secret(
            self,
            "MetricsToken",
            secret_name=f"{prefix}/metrics-token",
            description="Bearer token a Prometheus scraper inside the VPC sends to /metrics",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True
            ),
        )
        # The backend's `flask keys rotate` writes the key set; it starts as an empty JSON
        # object, which the backend reads as "no signing key yet".
        self.signing_keys = secretsmanager.Secret(
            self,
            "SigningKeys",
            secret_name=f"{prefix}/token-signing-keys",
            encryption_key=self.key,
            description="Token signing key set (current and previous), written by keys rotate",
            secret_string_value=SecretValue.unsafe_plain_text("{}"),
        )
        # `flask users create-admin`, run as a one-off task, writes the first admin's
        # password and authenticator URI here instead of to the task's (logged) output.
        self.handoff_secret = secretsmanager.Secret(
            self,
            "OperatorHandoff",
            secret_name=f"{prefix}/operator-handoff",
            description="Credentials a one-off task hands to the operator (read, then clear)",
            encryption_key=self.key,
            secret_string_value=SecretValue.unsafe_plain_text("{}"),
        )
        # The database credentials live in their own secret, attached to whichever instance
        # is current: a restore points the same secret (host, password) at the new one.
        self.database_credentials = rds.DatabaseSecret(
            self,
            "DatabaseSecret",
            username=DATABASE_USER,
            secret_name=f"{prefix}/database",
            encryption_key=self.key,
        )
        self.database = self._database(network, prefix)
        self.logs_bucket = self._logs_bucket()
        self.exports_bucket = self._exports_bucket()
        self.operator_bucket = self._operator_bucket()
        self.redis_url = self._redis(network) if config.needs_shared_counters else None

    @property
    def database_secret(self) -> secretsmanager.ISecret:
        """The credentials attached to the current instance (JSON: host, port, password...)."""
        database = self.database
        assert isinstance(database, rds.DatabaseInstance | rds.DatabaseInstanceFromSnapshot)
        secret = database.secret
        assert secret is not None  # always set: the credentials come from a secret
        return secret

    def _database(self, network: Network, prefix: str) -> rds.DatabaseInstanceBase:
        """PostgreSQL in the isolated subnets: encrypted, backed up, never public."""
        config = self._config
        parameters = rds.ParameterGroup(
            self,
            "DatabaseParameters",
            engine=_ENGINE,
            # Refuse unencrypted connections even from inside the VPC.
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
        )
        identifier = config.database_identifier
        # RDS would create its log groups itself, without retention; creating them first,
        # under the names RDS uses, makes them expire like every other log.
        log_groups = [
            logs.LogGroup(
                self,
                f"DatabaseLogs{kind.capitalize()}",
                log_group_name=f"/aws/rds/instance/{identifier}/{kind}",
                retention=log_retention(config.log_retention_days),
                removal_policy=RemovalPolicy.DESTROY,
            )
            for kind in _DATABASE_LOGS
        ]
        common: dict[str, Any] = {
            "instance_identifier": identifier,
            "engine": _ENGINE,
            "instance_type": ec2.InstanceType(config.db_instance_type),
            "vpc": network.vpc,
            "vpc_subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            "security_groups": [network.database_security_group],
            "port": POSTGRES_PORT,
            "publicly_accessible": False,
            "multi_az": config.db_multi_az,
            "parameter_group": parameters,
            "storage_type": rds.StorageType.GP3,
            "allocated_storage": config.db_allocated_storage_gib,
            "max_allocated_storage": config.db_max_allocated_storage_gib,
            "backup_retention": Duration.days(config.db_backup_retention_days),
            "preferred_backup_window": "01:00-01:30",
            "preferred_maintenance_window": "sun:04:30-sun:05:00",
            "copy_tags_to_snapshot": True,
            "auto_minor_version_upgrade": True,
            "deletion_protection": config.deletion_protection,
            # A protected database is never deleted by CloudFormation, not even when a
            # restore replaces it: it is left running for the operator to check and delete.
            "removal_policy": RemovalPolicy.RETAIN
            if config.deletion_protection
            else RemovalPolicy.SNAPSHOT,
            "cloudwatch_logs_exports": list(_DATABASE_LOGS),
        }
        database: rds.DatabaseInstanceBase
        if config.db_restore_snapshot:
            # A new instance (new logical id, new name) from the snapshot, which carries
            # the data key's encryption; the same secret gets its password and host.
            database = rds.DatabaseInstanceFromSnapshot(
                self,
                f"RestoredDatabase{identifier.rsplit('-r', 1)[-1]}",
                snapshot_identifier=config.db_restore_snapshot,
                credentials=rds.SnapshotCredentials.from_secret(self.database_credentials),
                **common,
            )
        else:
            database = rds.DatabaseInstance(
                self,
                "Database",
                credentials=rds.Credentials.from_secret(self.database_credentials),
                database_name=DATABASE_NAME,
                storage_encrypted=True,
                storage_encryption_key=self.key,
                **common,
            )
        for group in log_groups:
            database.node.add_dependency(group)
        return database

    def _logs_bucket(self) -> s3.Bucket:
        """Access logs of the load balancer and of the exports bucket."""
        return s3.Bucket(
            self,
            "LogsBucket",
            # Load balancer access logs support only S3-managed keys.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(self._config.log_retention_days))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _exports_bucket(self) -> s3.Bucket:
        """Anonymised exports the backend writes (PutObject only) for the city's analysts."""
        return s3.Bucket(
            self,
            "ExportsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="s3-exports/",
            lifecycle_rules=[
                s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30)),
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _operator_bucket(self) -> s3.Bucket:
        """Files of one-off operator tasks: the enrollment CSV in, the printable sheet out.

        The sheets carry enrollment codes: encrypted with the data key, kept a week.
        """
        return s3.Bucket(
            self,
            "OperatorBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="s3-operator/",
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(7)),
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _redis(self, network: Network) -> str:
        """Serverless Valkey (Redis protocol) for rate-limit counters shared by instances."""
        cache = elasticache.CfnServerlessCache(
            self,
            "Counters",
            engine="valkey",
            major_engine_version="8",
            serverless_cache_name=f"fairroll-{self._config.name}",
            description="fairroll rate-limit counters",
            security_group_ids=[network.redis_security_group.security_group_id],
            subnet_ids=network.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            ).subnet_ids,
            # Counters are tiny; the limits cap the bill if something misbehaves.
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
                    maximum=1, unit="GB"
                ),
                ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(maximum=5000),
            ),
        )
        # Serverless caches accept TLS connections only.
        return f"rediss://{cache.attr_endpoint_address}:{cache.attr_endpoint_port}/0"
