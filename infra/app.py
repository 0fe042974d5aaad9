"""The CDK app: `npx aws-cdk deploy -c env=staging` builds the stack of one environment."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Aspects, Stack
from cdk_nag import AwsSolutionsChecks

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, EnvironmentConfig, load_environment
from infra.nag import suppress_justified_findings
from infra.stacks.backup import BackupCopyStack
from infra.stacks.fairroll import FairrollStack

# CDK behaviours that new projects get by default (`cdk init`) and that we rely on.
FEATURE_FLAGS = {
    # Grant S3 server access logging through a bucket policy, not a legacy ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    # Merge policy statements that differ only in resources (smaller, clearer policies).
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-ecs:reduceEc2FargateCloudWatchPermissions": True,
    "@aws-cdk/aws-kms:reduceCrossAccountRegionPolicyScope": True,
}


def new_app(**props: Any) -> App:
    """An app with our feature flags; props as for aws_cdk.App (e.g. outdir, context)."""
    context = {**FEATURE_FLAGS, **props.pop("context", {})}
    return App(context=context, **props)


def add_stack(app: App, config: EnvironmentConfig) -> FairrollStack:
    """Add one environment's stacks to the app, checked by cdk-nag at synthesis.

    Two stacks: the backup copy vault in the second region (deployed first), and the
    environment itself.
    """
    copies = BackupCopyStack(app, config)
    stack = FairrollStack(app, config)
    stack.add_stack_dependency(copies)
    suppress_justified_findings(stack)
    for each in (copies, stack):
        Aspects.of(each).add(AwsSolutionsChecks())
    return stack


def add_environment(app: App, env_name: str, config_path: Path = DEFAULT_CONFIG_PATH) -> Stack:
    """Load and validate the named environment from the file, then add its stack."""
    return add_stack(app, load_environment(env_name, config_path))


def main(context: dict[str, Any] | None = None) -> None:
    """Entry point the CDK CLI runs (cdk.json): synthesise the chosen environment.

    The CLI passes `-c key=value` settings through the environment; `context` adds more.
    """
    app = new_app(context=context or {})
    env_name = app.node.try_get_context("env")
    config_path = app.node.try_get_context("config") or DEFAULT_CONFIG_PATH
    if not env_name:
        sys.exit("infra: choose an environment: -c env=staging or -c env=production")
    try:
        add_environment(app, str(env_name), Path(config_path))
    except ConfigError as error:
        sys.exit(f"infra: {error}")
    app.synth()


if __name__ == "__main__":
    main()
