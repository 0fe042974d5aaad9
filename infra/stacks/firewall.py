"""AWS WAF in front of the load balancer: per-address rate limits on the visitor pages and
API and, separately, on the admin UI; AWS's list of known-bad addresses for everything.

The device API has no rate rule here: a site's dispensers may share one address (behind
the site's router), and each dispenser is already limited by the backend per device key.
"""

from __future__ import annotations

from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import EnvironmentConfig

# Requests per 5 minutes from one address. Phones reach the visitor pages through
# carrier NAT, where many visitors share an address: the limit stops floods, not crowds.
VISITOR_LIMIT = 2000
ADMIN_LIMIT = 300
VISITOR_PATHS = ("/d/", "/api/v1/dispensers/", "/sites/")
ADMIN_PATHS = ("/admin",)

_P = wafv2.CfnWebACL


def _starts_with(path: str) -> _P.StatementProperty:
    return _P.StatementProperty(
        byte_match_statement=_P.ByteMatchStatementProperty(
            field_to_match=_P.FieldToMatchProperty(uri_path={}),
            positional_constraint="STARTS_WITH",
            search_string=path,
            text_transformations=[_P.TextTransformationProperty(priority=0, type="NONE")],
        )
    )


def _any_path(paths: tuple[str, ...]) -> _P.StatementProperty:
    if len(paths) == 1:
        return _starts_with(paths[0])
    return _P.StatementProperty(
        or_statement=_P.OrStatementProperty(statements=[_starts_with(p) for p in paths])
    )


def _visibility(name: str) -> _P.VisibilityConfigProperty:
    return _P.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _rate_rule(name: str, priority: int, limit: int, paths: tuple[str, ...]) -> _P.RuleProperty:
    return _P.RuleProperty(
        name=name,
        priority=priority,
        action=_P.RuleActionProperty(block={}),
        statement=_P.StatementProperty(
            rate_based_statement=_P.RateBasedStatementProperty(
                aggregate_key_type="IP",
                limit=limit,
                evaluation_window_sec=300,
                scope_down_statement=_any_path(paths),
            )
        ),
        visibility_config=_visibility(name),
    )


class Firewall(Construct):
    """A regional web ACL associated with the public load balancer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        load_balancer: elbv2.IApplicationLoadBalancer,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = f"fairroll-{config.name}"
        reputation = _P.RuleProperty(
            name="AwsIpReputation",
            priority=0,
            override_action=_P.OverrideActionProperty(none={}),
            statement=_P.StatementProperty(
                managed_rule_group_statement=_P.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name="AWSManagedRulesAmazonIpReputationList"
                )
            ),
            visibility_config=_visibility("AwsIpReputation"),
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=prefix,
            scope="REGIONAL",
            default_action=_P.DefaultActionProperty(allow={}),
            rules=[
                reputation,
                _rate_rule("VisitorRate", 1, VISITOR_LIMIT, VISITOR_PATHS),
                _rate_rule("AdminRate", 2, ADMIN_LIMIT, ADMIN_PATHS),
            ],
            visibility_config=_visibility(prefix),
        )
        wafv2.CfnWebACLAssociation(
            self,
            "Association",
            resource_arn=load_balancer.load_balancer_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
