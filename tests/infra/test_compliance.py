"""cdk-nag (AWS Solutions rules) and cfn-lint find nothing unjustified in the templates."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from tests.infra.conftest import Synthesis, nag_findings

NAG_MODULE = Path(__file__).resolve().parents[2] / "infra" / "nag.py"
# cfn-lint warnings we accept, with the reason. Errors are never accepted.
ACCEPTED_WARNINGS = {
    # CDK adds an explicit DependsOn from a Lambda function to its role's policy and
    # role; the redundant dependency is harmless and not ours to remove.
    "W3005",
}


def test_cdk_nag_reports_nothing_unsuppressed(synthesis: Synthesis, env_name: str) -> None:
    assert synthesis.nag_findings[env_name] == []


def test_cdk_nag_reports_a_non_compliant_resource(tmp_path: Path) -> None:
    from aws_cdk import App, Aspects, Stack
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    s3.Bucket(stack, "Plain")  # no access logs, TLS not enforced
    Aspects.of(stack).add(AwsSolutionsChecks())
    findings = nag_findings(app.synth().get_stack_by_name("Careless"))
    assert any("AwsSolutions-S1" in f for f in findings)


@pytest.fixture(scope="session")
def lint_results(synthesis: Synthesis) -> dict[str, list[str]]:
    """cfn-lint on each synthesised template, run once in-process."""
    results = {}
    for name, path in synthesis.template_files.items():
        region = synthesis.configs[name].region
        matches = lint(path.read_text(encoding="utf-8"), config=ManualArgs(regions=[region]))
        results[name] = [f"{m.rule.id} {m.message} ({m.path_string})" for m in matches]
    return results


def test_cfn_lint_finds_no_errors(lint_results: dict[str, list[str]], env_name: str) -> None:
    errors = [m for m in lint_results[env_name] if m.startswith("E")]
    assert errors == []


def test_cfn_lint_warnings_are_only_accepted_ones(
    lint_results: dict[str, list[str]], env_name: str
) -> None:
    unexpected = [
        m
        for m in lint_results[env_name]
        if m.split()[0] not in ACCEPTED_WARNINGS and not m.startswith("I")
    ]
    assert unexpected == []


def test_cfn_lint_catches_a_broken_template() -> None:
    broken = '{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"Nope": 1}}}}'
    matches = lint(broken, config=ManualArgs(regions=["us-east-1"]))
    assert any(m.rule.id.startswith("E") for m in matches)


def test_every_suppression_carries_a_real_reason() -> None:
    tree = ast.parse(NAG_MODULE.read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_rule"
    ]
    assert len(calls) >= 10
    for call in calls:
        rule, reason = call.args[0], call.args[1]
        assert isinstance(rule, ast.Constant) and re.fullmatch(
            r"AwsSolutions-[A-Z0-9]+", rule.value
        )
        text = _text(reason)
        # A reason says why the finding is right here, in a sentence, not "needed".
        assert len(text) >= 60 and text.rstrip().endswith("."), text


def _text(node: ast.expr) -> str:
    """The literal text of a (possibly f-) string argument, placeholders left empty."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    assert isinstance(node, ast.JoinedStr), ast.dump(node)
    return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
