"""Custom resource handlers: start the migration task, then wait until it has succeeded.

CloudFormation updates the web service only after this resource is complete, so a new
version serves traffic only on a migrated schema; a failed migration fails the deploy.
Runs on AWS Lambda (boto3 is part of its Python runtime).
"""

from __future__ import annotations

import logging
from typing import Any

import boto3

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)
CONTAINER_NAME = "app"


def on_event(event: dict[str, Any], _context: object, ecs: Any = None) -> dict[str, Any]:
    """Start the migration task on Create and Update; nothing to undo on Delete."""
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    props = event["ResourceProperties"]
    if event["RequestType"] == "Update" and _is_rollback(event):
        # Migrations only go forward: the older code does not know the newer revision,
        # and the schema it finds was made to work with it (expand, then contract).
        LOG.info("rollback to %s: migrations are not run backwards", props["TaskDefinition"])
        return {"PhysicalResourceId": event["PhysicalResourceId"], "Data": {"Skipped": "yes"}}
    client = ecs or boto3.client("ecs")
    response = client.run_task(
        cluster=props["Cluster"],
        taskDefinition=props["TaskDefinition"],
        launchType="FARGATE",
        count=1,
        startedBy="fairroll-release",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": props["Subnets"],
                "securityGroups": props["SecurityGroups"],
                # ENABLED when the stack runs its tasks without NAT (public subnets).
                "assignPublicIp": props.get("AssignPublicIp", "DISABLED"),
            }
        },
    )
    if response.get("failures") or not response.get("tasks"):
        reasons = "; ".join(
            f"{f.get('arn', '?')}: {f.get('reason', '?')}" for f in response.get("failures", [])
        )
        raise RuntimeError(f"could not start the migration task: {reasons or 'no task started'}")
    task_arn = response["tasks"][0]["taskArn"]
    LOG.info("migration task started: %s", task_arn)
    return {"PhysicalResourceId": task_arn, "Data": {"TaskArn": task_arn}}


def is_complete(event: dict[str, Any], _context: object, ecs: Any = None) -> dict[str, Any]:
    """Report done when the task stopped with exit code 0; raise if it failed."""
    if event["RequestType"] == "Delete" or event.get("Data", {}).get("Skipped"):
        return {"IsComplete": True}
    task_arn = event["PhysicalResourceId"]
    client = ecs or boto3.client("ecs")
    response = client.describe_tasks(
        cluster=event["ResourceProperties"]["Cluster"], tasks=[task_arn]
    )
    if not response.get("tasks"):
        raise RuntimeError(f"migration task {task_arn} is unknown to ECS")
    task = response["tasks"][0]
    if task.get("lastStatus") != "STOPPED":
        return {"IsComplete": False}
    container: dict[str, Any] = next(
        (c for c in task.get("containers", []) if c.get("name") == CONTAINER_NAME), {}
    )
    exit_code = container.get("exitCode")
    if exit_code != 0:
        reason = container.get("reason") or task.get("stoppedReason") or "no reason given"
        raise RuntimeError(
            f"migration task {task_arn} failed (exit code {exit_code}): {reason}; "
            "see the task's log stream in CloudWatch Logs"
        )
    LOG.info("migration task succeeded: %s", task_arn)
    return {"IsComplete": True}


def _is_rollback(event: dict[str, Any]) -> bool:
    """Whether CloudFormation goes back to an older revision of the same task definition.

    A new deployment always registers a higher revision; only a rollback of a failed
    update asks for a lower one.
    """
    new = _family_and_revision(event["ResourceProperties"]["TaskDefinition"])
    old = _family_and_revision(event.get("OldResourceProperties", {}).get("TaskDefinition", ""))
    return new is not None and old is not None and new[0] == old[0] and new[1] < old[1]


def _family_and_revision(arn: str) -> tuple[str, int] | None:
    """('family', 7) from arn:aws:ecs:...:task-definition/family:7, else None."""
    name = arn.rpartition("/")[2]
    family, _, revision = name.rpartition(":")
    return (family, int(revision)) if family and revision.isdigit() else None
