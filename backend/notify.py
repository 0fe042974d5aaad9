"""Alert notifications, through the back-end the configuration names.

Every per-dispenser alert change is written to the log (the fleet view has the detail);
people are paged once per check run with a digest of incidents (backend/incident_alerts.py).

- ``log``: log lines only (embedded default, development).
- ``sns``: digests to an SNS topic (AWS), which fans out to e-mail or SMS subscribers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask

from backend.services.alerts import AlertChange

if TYPE_CHECKING:
    from backend.incident_alerts import IncidentDigest

log = logging.getLogger("fairroll.alerts")


class Notifier(Protocol):
    """Sends alert changes to the people on duty."""

    def send(self, change: AlertChange) -> None:
        """Record one raised or resolved dispenser alert; failures are logged, never raised."""

    def page(self, digest: IncidentDigest) -> None:
        """Tell the people on duty about incidents; failures are logged, never raised."""


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
    """Writes each alert change and each incident digest to the log."""

    def send(self, change: AlertChange) -> None:
        log.warning("%s", change.subject(), extra={"alert": _document(change)})

    def page(self, digest: IncidentDigest) -> None:
        log.warning("%s\n%s", digest.subject, digest.text)


class SNSNotifier(LogNotifier):
    """Logs each alert change; publishes each incident digest to an SNS topic."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def page(self, digest: IncidentDigest) -> None:
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=digest.subject,  # ASCII, at most 100 characters (compose_digest)
                Message=digest.text,
                MessageAttributes={
                    "kinds": {"DataType": "String", "StringValue": ",".join(digest.kinds)},
                },
            )
        except Exception:  # a failed notification must not fail the check run
            log.exception(
                "could not publish the incident digest to SNS",
                extra={"digest": json.dumps(digest.subject)},
            )


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
    """Record every change (call after the commit that made them); nobody is paged here."""
    target = notifier(app)
    for change in changes:
        target.send(change)
