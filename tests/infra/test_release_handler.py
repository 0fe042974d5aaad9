"""The migration custom resource handlers against a stubbed ECS API (botocore Stubber).

The Stubber checks every request against the real ECS API model, so a wrong parameter
name or shape fails here, not during a deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra.release_handler import index

CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/fairroll"
TASK_DEFINITION = "arn:aws:ecs:us-east-1:123456789012:task-definition/migrate:7"
TASK = "arn:aws:ecs:us-east-1:123456789012:task/fairroll/0123456789abcdef"
PROPS = {
    "Cluster": CLUSTER,
    "TaskDefinition": TASK_DEFINITION,
    "Subnets": ["subnet-1", "subnet-2"],
    "SecurityGroups": ["sg-1"],
}


@pytest.fixture
def ecs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "ecs",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _event(request_type: str, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request_type, "ResourceProperties": PROPS, **extra}


def _stopped(exit_code: int | None, reason: str = "") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason:
        container["reason"] = reason
    return {
        "tasks": [{"taskArn": TASK, "lastStatus": "STOPPED", "containers": [container]}],
        "failures": [],
    }


def test_create_starts_one_private_fargate_task(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK}], "failures": []},
        {
            "cluster": CLUSTER,
            "taskDefinition": TASK_DEFINITION,
            "launchType": "FARGATE",
            "count": 1,
            "startedBy": "fairroll-release",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-1", "subnet-2"],
                    "securityGroups": ["sg-1"],
                    "assignPublicIp": "DISABLED",
                }
            },
        },
    )
    result = index.on_event(_event("Create"), None, ecs=client)
    assert result == {"PhysicalResourceId": TASK, "Data": {"TaskArn": TASK}}


def test_update_runs_the_migration_again(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK}], "failures": []})
    result = index.on_event(_event("Update", PhysicalResourceId="old-task"), None, ecs=client)
    assert result["PhysicalResourceId"] == TASK


def test_task_that_cannot_start_fails_the_deploy(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response(
        "run_task",
        {"tasks": [], "failures": [{"arn": CLUSTER, "reason": "RESOURCE:ENI"}]},
    )
    with pytest.raises(RuntimeError, match=r"could not start the migration task: .*RESOURCE:ENI"):
        index.on_event(_event("Create"), None, ecs=client)


def test_delete_does_nothing(ecs: tuple[Any, Stubber]) -> None:
    client, _ = ecs
    event = _event("Delete", PhysicalResourceId=TASK)
    assert index.on_event(event, None, ecs=client) == {"PhysicalResourceId": TASK}
    assert index.is_complete(event, None, ecs=client) == {"IsComplete": True}


def test_running_task_is_not_complete(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response(
        "describe_tasks",
        {"tasks": [{"taskArn": TASK, "lastStatus": "RUNNING"}], "failures": []},
        {"cluster": CLUSTER, "tasks": [TASK]},
    )
    result = index.is_complete(_event("Create", PhysicalResourceId=TASK), None, ecs=client)
    assert result == {"IsComplete": False}


def test_task_that_exited_zero_is_complete(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("describe_tasks", _stopped(0))
    result = index.is_complete(_event("Create", PhysicalResourceId=TASK), None, ecs=client)
    assert result == {"IsComplete": True}


def test_failed_migration_fails_the_deploy_with_its_exit_code(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("describe_tasks", _stopped(1))
    with pytest.raises(RuntimeError, match=r"failed \(exit code 1\)"):
        index.is_complete(_event("Update", PhysicalResourceId=TASK), None, ecs=client)


def test_task_stopped_before_its_container_ran_fails(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("describe_tasks", _stopped(None, "CannotPullContainerError"))
    with pytest.raises(RuntimeError, match=r"exit code None.*CannotPullContainerError"):
        index.is_complete(_event("Create", PhysicalResourceId=TASK), None, ecs=client)


def test_unknown_task_fails(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response(
        "describe_tasks", {"tasks": [], "failures": [{"arn": TASK, "reason": "MISSING"}]}
    )
    with pytest.raises(RuntimeError, match="unknown to ECS"):
        index.is_complete(_event("Create", PhysicalResourceId=TASK), None, ecs=client)


def test_rollback_to_an_older_revision_does_not_migrate(ecs: tuple[Any, Stubber]) -> None:
    client, _ = ecs  # no ECS call is stubbed: any call would fail the test
    older = {**PROPS, "TaskDefinition": TASK_DEFINITION.replace(":7", ":6")}
    event = {
        "RequestType": "Update",
        "PhysicalResourceId": TASK,
        "ResourceProperties": older,
        "OldResourceProperties": PROPS,
    }
    result = index.on_event(event, None, ecs=client)
    assert result == {"PhysicalResourceId": TASK, "Data": {"Skipped": "yes"}}
    assert index.is_complete({**event, **result}, None, ecs=client) == {"IsComplete": True}


def test_update_to_a_newer_revision_migrates(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("run_task", {"tasks": [{"taskArn": TASK}], "failures": []})
    newer = {**PROPS, "TaskDefinition": TASK_DEFINITION.replace(":7", ":8")}
    event = {
        "RequestType": "Update",
        "PhysicalResourceId": "old-task",
        "ResourceProperties": newer,
        "OldResourceProperties": PROPS,
    }
    assert index.on_event(event, None, ecs=client)["PhysicalResourceId"] == TASK
