"""The AWS adapters of fleet operations under moto: SNS alerts, S3 export, CloudWatch."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws

from backend.config import ConfigError, load_config
from backend.extensions import db
from backend.incident_alerts import IncidentDigest
from backend.models import DeviceEvent
from backend.notify import LogNotifier, SNSNotifier, make_notifier
from backend.services.alerts import AlertChange
from tests.factories import auth, enroll, make_dispenser, make_site, now

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _change() -> AlertChange:
    return AlertChange("raised", "low_paper", "abcdefgh2j", "Lobby", "Park", "paper at 15%", now())


def test_the_notifier_is_chosen_by_configuration(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(make_notifier(app), LogNotifier)
    monkeypatch.setitem(app.config, "FAIRROLL_NOTIFIER", "sns")
    monkeypatch.setitem(app.config, "FAIRROLL_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:x")
    assert isinstance(make_notifier(app), SNSNotifier)


def test_sns_needs_a_topic_arn(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="FAIRROLL_SNS_TOPIC_ARN"):
        load_config({"FAIRROLL_NOTIFIER": "sns"}, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="FAIRROLL_NOTIFIER"):
        load_config({"FAIRROLL_NOTIFIER": "pager"}, tmp_path)  # type: ignore[arg-type]


def test_sns_notifier_publishes_incident_digests_not_dispenser_changes(aws: None) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="fairroll-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="duty")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    notifier = SNSNotifier(sns, topic)
    notifier.send(_change())  # one dispenser's change: logged, nobody paged
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    subject = "[fairroll] NEW offline: 40 dispensers at 3 sites"
    notifier.page(IncidentDigest(subject, "NEW offline Park: 40 dispensers", ["offline"]))
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == subject
    assert envelope["Message"] == "NEW offline Park: 40 dispensers"


def test_sns_failure_is_logged_not_raised(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    sns = boto3.client("sns", region_name=REGION)
    missing = SNSNotifier(sns, "arn:aws:sns:us-east-1:123456789012:missing")
    missing.page(IncidentDigest("[fairroll] NEW jam: 1 dispenser at 1 site", "text", ["jam"]))
    assert "could not publish" in caplog.text


def _events(dispenser_id: int, day: datetime, methods: list[str]) -> None:
    for method in methods:
        db.session.add(
            DeviceEvent(
                dispenser_id=dispenser_id,
                event_id=uuid.uuid4().hex,
                kind="dispense",
                method=method,
                occurred_at=day,
                received_at=day,
            )
        )
    db.session.commit()


def test_export_uploads_one_days_counts_as_json_lines(
    app: Flask, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="fairroll-exports")
    monkeypatch.setitem(app.config, "FAIRROLL_EXPORT_BUCKET", "fairroll-exports")
    dispenser = make_dispenser(make_site())
    day = datetime(2026, 11, 20, 9, tzinfo=UTC)
    _events(dispenser.id, day, ["qr", "qr", "face", "voucher"])
    _events(dispenser.id, day + timedelta(days=1), ["qr"])  # another day: not exported
    result = app.test_cli_runner().invoke(args=["export", "aggregates", "--day", "2026-11-20"])
    assert result.exit_code == 0, result.output
    assert "exported 3 rows to s3://fairroll-exports/aggregates/2026/11/20.jsonl" in result.output
    body = s3.get_object(Bucket="fairroll-exports", Key="aggregates/2026/11/20.jsonl")["Body"]
    rows = [json.loads(line) for line in body.read().decode().splitlines()]
    assert {(r["method"], r["count"]) for r in rows} == {("qr", 2), ("face", 1), ("voucher", 1)}
    assert set(rows[0]) == {"day", "site_id", "dispenser", "method", "kind", "count"}


def test_export_without_a_bucket_says_what_to_set(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["export", "aggregates"])
    assert result.exit_code != 0 and "FAIRROLL_EXPORT_BUCKET" in result.output


def test_export_to_a_missing_bucket_fails_clearly(
    app: Flask, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "FAIRROLL_EXPORT_BUCKET", "no-such-bucket")
    result = app.test_cli_runner().invoke(args=["export", "aggregates"])
    assert result.exit_code != 0 and "export to s3://no-such-bucket failed" in result.output


def test_cloudwatch_gets_a_fixed_set_of_fleet_metrics_whatever_the_fleet(
    app: Flask, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "FAIRROLL_CLOUDWATCH_METRICS", True)
    site = make_site("North")
    for level in (10, 50, 90):
        make_dispenser(site, paper_level=level, status="ok", last_heartbeat_at=now())
    make_dispenser(make_site("South"), status="ok", last_heartbeat_at=now() - timedelta(hours=1))
    for name in ("East", "West"):  # more sites change nothing in what is published
        make_dispenser(make_site(name), status="ok", last_heartbeat_at=now())
    result = app.test_cli_runner().invoke(args=["fleet", "tick"])
    assert result.exit_code == 0, result.output
    assert "cloudwatch data points: 14" in result.output  # 9 fleet figures + 5 methods
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    metrics = cloudwatch.list_metrics(Namespace="fairroll")["Metrics"]
    dimensions = {tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in metrics}
    assert all(not dims or dims[0][0] == "Method" for dims in dimensions)
    stats = cloudwatch.get_metric_statistics(
        Namespace="fairroll",
        MetricName="DispensersOffline",
        StartTime=now() - timedelta(minutes=5),
        EndTime=now() + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )
    assert stats["Datapoints"][0]["Maximum"] == 1


def test_cloudwatch_is_switched_on_by_fairroll_metrics(tmp_path: object) -> None:
    on = load_config({"FAIRROLL_METRICS": "cloudwatch"}, tmp_path)  # type: ignore[arg-type]
    assert on["FAIRROLL_CLOUDWATCH_METRICS"] is True
    off = load_config({}, tmp_path)  # type: ignore[arg-type]
    assert off["FAIRROLL_CLOUDWATCH_METRICS"] is False
    with pytest.raises(ConfigError, match="FAIRROLL_METRICS"):
        load_config({"FAIRROLL_METRICS": "statsd"}, tmp_path)  # type: ignore[arg-type]


def test_heartbeats_never_publish_to_cloudwatch(
    app: Flask, client: FlaskClient, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "FAIRROLL_CLOUDWATCH_METRICS", True)
    dispenser = make_dispenser(make_site("Gate Park"))
    key = enroll(client, dispenser)["device_key"]
    for _ in range(3):
        beat = client.post(
            "/api/v1/device/heartbeat", json={"paper_level": 50, "status": "ok"}, headers=auth(key)
        )
        assert beat.status_code == 200
    listed = boto3.client("cloudwatch", region_name=REGION).list_metrics(Namespace="fairroll")
    assert listed["Metrics"] == []
