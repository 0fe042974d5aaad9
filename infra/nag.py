"""cdk-nag findings we accept, each with the reason it is right for this system.

Every suppression names the rule, the resource and, for wildcard findings, the exact
permission it covers; the reason travels into the template's metadata, so a reviewer
reading the CloudFormation sees it too. Nothing is suppressed stack-wide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stacks.fairroll import FairrollStack


def _rule(rule: str, reason: str, *applies_to: str) -> NagPackSuppression:
    """One suppression; applies_to (regexes) narrows a wildcard finding to one permission."""
    return NagPackSuppression(
        id=rule,
        reason=reason,
        applies_to=[RegexAppliesTo(regex=f"/{pattern}/") for pattern in applies_to] or None,
    )


def _suppress(target: IConstruct, *rules: NagPackSuppression, children: bool = False) -> None:
    """Attach suppressions to a construct (and its children when asked)."""
    NagSuppressions.add_resource_suppressions(target, list(rules), apply_to_children=children)


def suppress_justified_findings(stack: FairrollStack) -> None:
    """Attach the justified suppressions to the resources they concern."""
    _backups(stack)
    _network_and_data(stack)
    _tasks(stack)
    _release(stack)


def _network_and_data(stack: FairrollStack) -> None:
    """The public load balancer, the secrets and the database."""
    config, data = stack.config, stack.data
    _suppress(
        stack.network.alb_security_group,
        _rule(
            "AwsSolutions-EC23",
            "The load balancer is the public entry point for phones, dispensers and operators "
            "anywhere on the internet; it admits only 443 (TLS) and 80 (redirect to 443).",
        ),
    )
    _suppress(
        data.app_secret,
        _rule(
            "AwsSolutions-SMG4",
            "Rotating the Flask SECRET_KEY signs every visitor and operator out, so it is "
            "rotated on purpose by the documented procedure, not on a timer.",
        ),
    )
    _suppress(
        data.signing_keys,
        _rule(
            "AwsSolutions-SMG4",
            "The backend itself rotates this key set (flask keys rotate, run as an ECS task): "
            "it must keep the previous key for dispensers that are offline, which a Secrets "
            "Manager rotation Lambda would not know to do.",
        ),
    )
    _suppress(
        data.metrics_token,
        _rule(
            "AwsSolutions-SMG4",
            "ECS injects the token when a task starts; the scraper holds a copy. Rotated by "
            "the documented procedure (new value, forced deployment, scraper updated).",
        ),
    )
    _suppress(
        data.handoff_secret,
        _rule(
            "AwsSolutions-SMG4",
            "Holds no standing credential: the create-admin task writes a new admin's "
            "password here once, and the operator reads it and clears it (the admin then "
            "changes the password at first sign-in).",
        ),
    )
    _suppress(
        data.database_credentials,
        _rule(
            "AwsSolutions-SMG4",
            "ECS injects the database password when a task starts; automatic rotation would "
            "break running tasks' new connections. Rotated by the documented procedure, "
            "followed by a forced new deployment.",
        ),
    )
    database_rules = [
        _rule(
            "AwsSolutions-RDS11",
            "A non-default port adds no protection here: the database has no public address "
            "and its security group admits only the backend tasks.",
        )
    ]
    # config.validate() refuses production without deletion protection, and single-AZ
    # production without a week of point-in-time recovery.
    if not config.db_multi_az:
        database_rules.append(
            _rule(
                "AwsSolutions-RDS3",
                f"The {config.name} environment is single-AZ by its configuration to halve "
                "the database cost (docs/operations.md, Costs): point-in-time recovery and "
                "AWS Backup copies in a second region instead of a standby; dispensers "
                "serve QR codes offline while the database is restored.",
            )
        )
    if not config.deletion_protection:
        database_rules.append(
            _rule(
                "AwsSolutions-RDS10",
                f"The {config.name} environment may be torn down; a final snapshot is still "
                "taken on delete (removal policy SNAPSHOT). Production is protected.",
            )
        )
    _suppress(data.database, *database_rules)


def _backups(stack: FairrollStack) -> None:
    """The AWS Backup role."""
    _suppress(
        stack.backups.role,
        _rule(
            "AwsSolutions-IAM4",
            "AWS Backup's own service policy for taking snapshots: AWS maintains it as "
            "Backup gains resource types; the role is assumable only by backup.amazonaws.com.",
            r"^Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            r"AWSBackupServiceRolePolicyForBackup$",
        ),
        _rule(
            "AwsSolutions-IAM5",
            "The second region's key is not known by ARN in this region; the statement is "
            "limited to the key with the backup-copy alias (kms:ResourceAliases).",
            r"^Resource::arn:<AWS::Partition>:kms:[a-z0-9-]+:<AWS::AccountId>:key/\*$",
        ),
        children=True,
    )


def _tasks(stack: FairrollStack) -> None:
    """The backend task definitions and their roles."""
    definitions = [
        stack.web.task_definition,
        stack.release.task_definition,
        stack.jobs.purge_task,
        stack.jobs.rotate_keys_task,
        stack.jobs.alerts_task,
        stack.operator_tasks.create_admin_task,
        stack.operator_tasks.bulk_enroll_task,
    ]
    if not stack.config.container_insights:
        _suppress(
            stack.cluster,
            _rule(
                "AwsSolutions-ECS4",
                "Container Insights bills about 80 custom metrics (~US$25 a month) for per-task "
                "detail nobody alarms on; CPU and memory per service come free from AWS/ECS, "
                "task health from the load balancers, and an environment can switch it on "
                "(container_insights = true in infra/environments.toml).",
            ),
            children=True,
        )
    for definition in definitions:
        _suppress(
            definition,
            _rule(
                "AwsSolutions-ECS2",
                "The plain environment variables are non-secret settings (resource names, "
                "ARNs, back-end choices); every secret is injected from Secrets Manager.",
            ),
        )
        _suppress(
            definition.obtain_execution_role(),
            _rule(
                "AwsSolutions-IAM5",
                "ecr:GetAuthorizationToken has no resource-level permissions; every other "
                "statement of the execution role names its repository, log group or secret.",
                r"^Resource::\*$",
            ),
            children=True,
        )
    metrics = _rule(
        "AwsSolutions-IAM5",
        "cloudwatch:PutMetricData has no resource ARN; the statement is limited by the "
        "condition cloudwatch:namespace = fairroll.",
        r"^Resource::\*$",
    )
    exports = _rule(
        "AwsSolutions-IAM5",
        "Export object keys are chosen at export time; the statement allows only "
        "s3:PutObject, in the exports bucket only.",
        r"^Resource::<DataExportsBucket[0-9A-F]+\.Arn>/\*$",
    )
    _suppress(stack.web_task_role, exports, children=True)
    _suppress(stack.task_roles["purge"], exports, children=True)
    _suppress(stack.task_roles["alerts"], metrics, children=True)
    _suppress(
        stack.task_roles["bulk_enroll"],
        _rule(
            "AwsSolutions-IAM5",
            "The operator names the CSV and the sheet at run time; the role reads only "
            "incoming/* and writes only sheets/* of the operator bucket.",
            r"^Resource::<DataOperatorBucket[0-9A-F]+\.Arn>/(incoming|sheets)/\*$",
        ),
        children=True,
    )
    tagging = _rule(
        "AwsSolutions-IAM5",
        "CDK's EventBridge ECS target tags the task it starts; task ARNs are unknown in "
        "advance, so ecs:TagResource is scoped to tasks of this cluster.",
        r"^Resource::arn:<AWS::Partition>:ecs:[a-z0-9-]+:\*:task/<Cluster[0-9A-F]+>/\*$",
    )
    for scheduled in (stack.jobs.purge_task, stack.jobs.alerts_task):
        _suppress(scheduled, tagging, children=True)


def _release(stack: FairrollStack) -> None:
    """The migration custom resource: our two handlers and CDK's provider framework."""
    release = stack.release
    log_streams = r"^Resource::<ReleaseHandlerLogs[0-9A-F]+\.Arn>:log-stream:\*$"
    for role in release.handler_roles:
        _suppress(
            role,
            _rule(
                "AwsSolutions-IAM5",
                "Lambda names its log streams at run time; the statement covers only the "
                "streams of this handler's own log group.",
                log_streams,
            ),
            _rule(
                "AwsSolutions-IAM5",
                "Task ARNs exist only once the migration task runs; ecs:DescribeTasks is "
                "scoped to tasks of this cluster.",
                r"^Resource::arn:<AWS::Partition>:ecs:[a-z0-9-]+:<AWS::AccountId>:"
                r"task/<Cluster[0-9A-F]+>/\*$",
            ),
            children=True,
        )
    _suppress(
        release.provider,
        _rule(
            "AwsSolutions-IAM4",
            "CDK's custom resource provider framework gives its own functions the AWS-managed "
            "basic execution role (CloudWatch Logs only); it is not configurable per policy.",
            r"^Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            r"AWSLambdaBasicExecutionRole$",
        ),
        _rule(
            "AwsSolutions-IAM5",
            "The provider framework invokes its handler functions by ARN including version "
            "qualifiers (<function ARN>:*); these are only our own functions.",
            r"^Resource::<Release[A-Za-z]+[0-9A-F]+\.Arn>:\*$",
        ),
        _rule(
            "AwsSolutions-SF1",
            "The waiter state machine only re-invokes the check every 15 s; the handlers log "
            "every start and check. Logging it would need logs:* on all resources.",
        ),
        _rule(
            "AwsSolutions-SF2",
            "The waiter state machine only polls the migration task every 15 s; X-Ray traces "
            "of a single-step loop would show nothing the handler logs do not.",
        ),
        _rule(
            "AwsSolutions-L1",
            "The provider framework's own functions use the runtime CDK pins for them; our "
            "handlers use the latest Python runtime.",
        ),
        children=True,
    )
