"""The cost model prices what the template provisions, under the workload it is given."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from infra.cost import PRICES_PATH, WORKLOAD_PATH, fleet_load, main, price, set_figure
from tests.infra.conftest import Synthesis, only, resources

PRICES = tomllib.loads(PRICES_PATH.read_text(encoding="utf-8"))


def _workload() -> dict[str, Any]:
    return tomllib.loads(WORKLOAD_PATH.read_text(encoding="utf-8"))


def test_prices_are_dated_and_for_one_region() -> None:
    assert PRICES["meta"]["region"] == "us-east-1"
    assert len(PRICES["meta"]["date"]) == 10  # YYYY-MM-DD


def test_every_provisioned_service_has_a_line(synthesis: Synthesis, env_name: str) -> None:
    bill = price(synthesis.templates[env_name], _workload(), PRICES, 10_000)
    assert {
        "RDS PostgreSQL",
        "Fargate",
        "Load balancing",
        "Public IPv4",
        "CloudWatch",
        "KMS",
        "Secrets Manager",
        "Data transfer out",
    } <= set(bill.lines)
    assert all(amount >= 0 for amount in bill.lines.values())
    nats = resources(synthesis.templates[env_name], "AWS::EC2::NatGateway")
    assert ("NAT gateways" in bill.lines) == bool(nats)


def test_tasks_without_nat_pay_for_their_public_addresses(synthesis: Synthesis) -> None:
    # Production runs its tasks in the public subnets: no NAT gateway, an address per task.
    template = synthesis.templates["production"]
    assert not resources(template, "AWS::EC2::NatGateway")
    notes = " ".join(price(template, _workload(), PRICES, 10_000).notes["Public IPv4"])
    assert "web tasks' addresses" in notes and "scheduled tasks' addresses" in notes


def test_the_database_line_follows_the_template(synthesis: Synthesis) -> None:
    template = synthesis.templates["production"]
    database = only(template, "AWS::RDS::DBInstance")
    bill = price(template, _workload(), PRICES, 1_000)
    copies = 2 if database["MultiAZ"] else 1
    expected = copies * (
        PRICES["rds"]["instance_hour"][database["DBInstanceClass"]] * 730
        + int(database["AllocatedStorage"]) * PRICES["rds"]["gp3_gb_month"]
    )
    assert bill.lines["RDS PostgreSQL"] == pytest.approx(expected)


def test_traffic_scales_with_the_fleet() -> None:
    small, large = fleet_load(_workload(), 1_000), fleet_load(_workload(), 10_000)
    assert large.rps == pytest.approx(10 * small.rps)
    assert large.device_rps == pytest.approx(10_000 * (1 / 60 + 0.0033 + 0.002 + 0.002), rel=1e-3)


def test_keeping_connections_open_cuts_the_data_sent() -> None:
    # The committed figure (kept-alive connections) against one connection per request.
    workload = _workload()
    kept = fleet_load(workload, 10_000)
    set_figure(workload, "device.requests_per_connection=1")
    each = fleet_load(workload, 10_000)
    assert kept.device.out_gb_month < each.device.out_gb_month / 2
    assert kept.device.new_connections_per_second < each.device.new_connections_per_second / 5


def test_a_wrong_override_is_refused() -> None:
    with pytest.raises(ValueError, match="no workload figure"):
        set_figure(_workload(), "device.nothing=1")
    with pytest.raises(ValueError, match="not a number"):
        set_figure(_workload(), "device.heartbeat=often")


def test_the_script_prints_the_bill(
    synthesis: Synthesis, capsys: pytest.CaptureFixture[str]
) -> None:
    template = synthesis.template_files["production"]
    assert main(["--template", str(template), "--dispensers", "1000"]) == 0
    out = capsys.readouterr().out
    assert "Monthly cost, 1,000 dispensers, us-east-1" in out
    assert "per dispenser-month" in out


def _docs() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ([], "as committed"),
        (["device.requests_per_connection=1"], "a connection per dispenser request"),
    ],
)
def test_docs_quote_the_models_figures(
    synthesis: Synthesis, changes: list[str], label: str
) -> None:
    """docs/operations.md shows what the script prints for the committed production stack.

    After changing the stack, the workload or the prices, run
    `python -m infra.cost --synth production --dispensers 1000 --dispensers 10000`
    (with the same --set options) and update the tables in "Costs".
    """
    workload = _workload()
    for change in changes:
        set_figure(workload, change)
    docs = _docs()
    for dispensers in (1_000, 10_000):
        total = price(synthesis.templates["production"], workload, PRICES, dispensers).total
        assert f"**${total:,.2f} (" in docs, f"{label}: ${total:,.2f} for {dispensers}"
