"""The event document a dispenser uploads: one dispense or refusal (docs/device-api.md).

The device builds it (``EventDocument.to_json``), the backend validates it
(``parse_event``): one definition of the fields, their values and their formats.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EVENT_KINDS = ("dispense", "refuse")
EVENT_METHODS = ("qr", "code", "face", "voucher", "unrestricted")
# Only these methods involve a token, so only their events may name one.
TOKEN_METHODS = ("qr", "code")
FACE_METHOD = "face"
EVENT_FIELDS = frozenset(
    {"event_id", "kind", "method", "occurred_at", "reason", "token_ref", "face_offered"}
)

_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
_TOKEN_REF = re.compile(r"^[0-9a-f]{64}$")
_REASON = re.compile(r"^[a-z_]{1,32}$")


class InvalidEvent(ValueError):
    """The document is not a valid event; the message says which field and why."""


def new_event_id() -> str:
    """A fresh random event id (32 lowercase hex characters): uploads are idempotent by it."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class EventDocument:
    """One event as it travels from device to backend."""

    event_id: str
    kind: str
    method: str
    occurred_at: datetime
    reason: str | None = None
    token_ref: str | None = None
    # Whether the dispenser offered a face scan then; None when the device did not say.
    face_offered: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object sent on the wire (absent fields left out)."""
        if self.occurred_at.tzinfo is None:
            raise InvalidEvent("occurred_at must be timezone-aware")
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "kind": self.kind,
            "method": self.method,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(timespec="seconds"),
        }
        if self.reason is not None:
            body["reason"] = self.reason
        if self.token_ref is not None:
            body["token_ref"] = self.token_ref
        if self.face_offered is not None:
            body["face_offered"] = self.face_offered
        return body


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent("occurred_at must be an ISO 8601 time with a timezone")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent("occurred_at must be an ISO 8601 time with a timezone") from None
    if moment.tzinfo is None:
        raise InvalidEvent("occurred_at needs a timezone")
    return moment


def parse_event(raw: object) -> EventDocument:
    """Validate one event document; InvalidEvent names the first problem."""
    if not isinstance(raw, dict):
        raise InvalidEvent("an event is a JSON object")
    unknown = set(raw) - EVENT_FIELDS
    if unknown:
        raise InvalidEvent(f"unknown fields {sorted(unknown)}")
    event_id, kind, method = raw.get("event_id"), raw.get("kind"), raw.get("method")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise InvalidEvent("event_id must be 32 lowercase hex characters")
    if kind not in EVENT_KINDS:
        raise InvalidEvent(f"kind must be one of {', '.join(EVENT_KINDS)}")
    if method not in EVENT_METHODS:
        raise InvalidEvent(f"method must be one of {', '.join(EVENT_METHODS)}")
    reason = raw.get("reason")
    if reason is not None and (not isinstance(reason, str) or not _REASON.fullmatch(reason)):
        raise InvalidEvent("reason must be a short lowercase word")
    ref = raw.get("token_ref")
    if ref is not None:
        if method not in TOKEN_METHODS:
            raise InvalidEvent("only qr and code events carry a token_ref")
        if not isinstance(ref, str) or not _TOKEN_REF.fullmatch(ref):
            raise InvalidEvent("token_ref must be 64 lowercase hex characters")
    offered = raw.get("face_offered")
    if offered is not None and not isinstance(offered, bool):
        raise InvalidEvent("face_offered must be true or false")
    occurred_at = _parse_time(raw.get("occurred_at"))
    return EventDocument(
        event_id, str(kind), str(method), occurred_at, reason, ref, face_offered=offered
    )
