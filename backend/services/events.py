"""Device events: validated as a whole batch, stored idempotently by event id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.errors import InvalidInput
from backend.models import DeviceEvent, Dispenser
from backend.models.event import EVENT_KINDS, EVENT_METHODS
from backend.services.sql import Db, insert_for
from backend.services.tokens import mark_redeemed_by_qr

MAX_BATCH = 500
_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
_TOKEN_REF = re.compile(r"^[0-9a-f]{64}$")
_REASON = re.compile(r"^[a-z_]{1,32}$")
# Devices buffer events while offline; older than this is a broken clock, not a backlog.
MAX_EVENT_AGE = timedelta(days=30)
MAX_EVENT_FUTURE = timedelta(minutes=10)


@dataclass(frozen=True)
class EventIn:
    """One validated event from a device."""

    event_id: str
    kind: str
    method: str
    occurred_at: datetime
    reason: str | None
    token_ref: str | None


@dataclass(frozen=True)
class BatchResult:
    """How many events were new and how many had been stored before."""

    accepted: int
    duplicates: int


def _parse_time(value: object, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise ValueError("occurred_at must be an ISO 8601 time with a timezone")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("occurred_at needs a timezone")
    if not now - MAX_EVENT_AGE <= moment <= now + MAX_EVENT_FUTURE:
        raise ValueError("occurred_at is too far from the server's time")
    return moment


def _parse_event(raw: object, now: datetime) -> EventIn:
    if not isinstance(raw, dict):
        raise ValueError("an event is a JSON object")
    allowed = {"event_id", "kind", "method", "occurred_at", "reason", "token_ref"}
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    event_id, kind, method = raw.get("event_id"), raw.get("kind"), raw.get("method")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise ValueError("event_id must be 32 lowercase hex characters")
    if kind not in EVENT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EVENT_KINDS)}")
    if method not in EVENT_METHODS:
        raise ValueError(f"method must be one of {', '.join(EVENT_METHODS)}")
    reason = raw.get("reason")
    if reason is not None and (not isinstance(reason, str) or not _REASON.fullmatch(reason)):
        raise ValueError("reason must be a short lowercase word")
    ref = raw.get("token_ref")
    if ref is not None:
        if method not in ("qr", "code"):
            raise ValueError("only qr and code events carry a token_ref")
        if not isinstance(ref, str) or not _TOKEN_REF.fullmatch(ref):
            raise ValueError("token_ref must be 64 lowercase hex characters")
    return EventIn(
        event_id, str(kind), str(method), _parse_time(raw.get("occurred_at"), now), reason, ref
    )


def parse_batch(body: Any, *, now: datetime) -> list[EventIn]:
    """Validate a whole batch; the first bad event refuses it all, naming its index."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise InvalidInput('send {"events": [...]}')
    raw_events = body["events"]
    if len(raw_events) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} events a batch")
    events = []
    for index, raw in enumerate(raw_events):
        try:
            events.append(_parse_event(raw, now))
        except ValueError as exc:
            raise InvalidInput(f"event {index}: {exc}", index=index) from None
    return events


def record_events(
    session: Db, dispenser: Dispenser, events: list[EventIn], *, now: datetime
) -> BatchResult:
    """Store new events, skip ones already stored, and mark QR-redeemed tokens.

    One multi-row INSERT ... ON CONFLICT DO NOTHING for the batch: RETURNING lists exactly
    the events stored now, so a resent batch is counted as duplicates and nothing else.
    """
    if not events:
        return BatchResult(accepted=0, duplicates=0)
    table = DeviceEvent.__table__
    rows = [
        {
            "dispenser_id": dispenser.id,
            "event_id": event.event_id,
            "kind": event.kind,
            "method": event.method,
            "reason": event.reason,
            "token_ref": event.token_ref,
            "occurred_at": event.occurred_at,
            "received_at": now,
        }
        for event in events
    ]
    stored = session.execute(
        insert_for(session, DeviceEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dispenser_id", "event_id"])
        .returning(table.c.event_id)
    ).all()
    new_ids = {row.event_id for row in stored}
    for event in events:
        if event.event_id not in new_ids:
            continue
        new_ids.discard(event.event_id)  # an id twice in one batch counts once
        if event.kind == "dispense" and event.method == "qr" and event.token_ref:
            mark_redeemed_by_qr(session, dispenser, event.token_ref, redeemed_at=event.occurred_at)
    return BatchResult(accepted=len(stored), duplicates=len(events) - len(stored))
