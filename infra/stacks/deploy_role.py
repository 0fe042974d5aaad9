"""The role GitHub Actions deploys with (OIDC: no stored AWS keys, no laptop admin rights).

The workflow of one repository, in the GitHub environment of the same name, may assume
it; the role may do nothing but assume the CDK bootstrap roles of this account and
region, which carry out the deployment (docs/operations.md, "Deploying from CI").
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import EnvironmentConfig

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# The CDK's default bootstrap qualifier (cdk bootstrap without --qualifier).
CDK_QUALIFIER = "hnb659fds"


class DeployRole(Construct):
    """An IAM role trusted by GitHub's OIDC provider for one repository and environment."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        provider = iam.OpenIdConnectProvider.from_open_id_connect_provider_arn(
            self,
            "GitHub",
            stack.format_arn(
                service="iam",
                region="",
                resource="oidc-provider",
                resource_name=GITHUB_OIDC_HOST,
            ),
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=f"fairroll-{config.name}-deploy",
            description=f"GitHub Actions deploys fairroll {config.name} from "
            f"{config.github_repository}",
            assumed_by=iam.WebIdentityPrincipal(
                provider.open_id_connect_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                        f"{GITHUB_OIDC_HOST}:sub": (
                            f"repo:{config.github_repository}:environment:{config.name}"
                        ),
                    }
                },
            ),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[
                    stack.format_arn(
                        service="iam",
                        region="",
                        resource="role",
                        resource_name=f"cdk-{CDK_QUALIFIER}-{kind}-role-"
                        f"{stack.account}-{stack.region}",
                    )
                    for kind in ("deploy", "file-publishing", "image-publishing", "lookup")
                ],
            )
        )
