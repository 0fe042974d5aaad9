"""Alert notifications, through the back-end the configuration names.

- ``log``: a structured log line per alert (embedded default, development).
- ``sns``: a message to an SNS topic (AWS), which fans out to e-mail or SMS subscribers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from flask import Flask

from backend.services.alerts import AlertChange

log = logging.getLogger("fairroll.alerts")


class Notifier(Protocol):
    """Sends alert changes to the people on duty."""

    def send(self, change: AlertChange) -> None:
        """Deliver one raised or resolved alert; failures are logged, never raised."""


def _document(change: AlertChange) -> dict[str, str]:
    return {
        "change": change.change,
        "kind": change.kind,
        "dispenser": change.dispenser,
        "label": change.label,
        "site": change.site,
        "detail": change.detail,
        "at": change.at.isoformat(),
    }


class LogNotifier:
    """Writes each alert change to the log."""

    def send(self, change: AlertChange) -> None:
        log.warning("%s", change.subject(), extra={"alert": _document(change)})


class SNSNotifier:
    """Publishes each alert change to an SNS topic."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, change: AlertChange) -> None:
        body = _document(change)
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                # SNS subjects: ASCII, at most 100 characters.
                Subject=change.subject().encode("ascii", "replace").decode()[:100],
                Message=json.dumps(body, ensure_ascii=False),
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": change.kind},
                    "change": {"DataType": "String", "StringValue": change.change},
                },
            )
        except Exception:  # a failed notification must not fail the heartbeat
            log.exception("could not publish the alert to SNS", extra={"alert": body})


def make_notifier(app: Flask) -> Notifier:
    """Build the notifier the configuration names."""
    backends: dict[str, Callable[[], Notifier]] = {
        "log": LogNotifier,
        "sns": lambda: _sns_notifier(app),
    }
    return backends[app.config["FAIRROLL_NOTIFIER"]]()


def _sns_notifier(app: Flask) -> Notifier:
    from backend.aws import client

    return SNSNotifier(client("sns", app), app.config["FAIRROLL_SNS_TOPIC_ARN"])


def notifier(app: Flask) -> Notifier:
    """The app's notifier, built once."""
    existing: Notifier | None = app.extensions.get("fairroll.notifier")
    if existing is None:
        existing = make_notifier(app)
        app.extensions["fairroll.notifier"] = existing
    return existing


def send_all(app: Flask, changes: Iterable[AlertChange]) -> None:
    """Send every change (call after the commit that made them)."""
    target = notifier(app)
    for change in changes:
        target.send(change)
