"""cdk-nag findings we accept, each with the reason it is right for this system."""

from __future__ import annotations

from aws_cdk import Stack


def suppress_justified_findings(stack: Stack) -> None:
    """Attach the justified suppressions to the resources they concern."""
