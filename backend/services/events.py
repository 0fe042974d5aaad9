"""Device events: validated as a whole batch, stored idempotently by event id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.errors import InvalidInput
from backend.models import DeviceEvent, Dispenser
from backend.services.sql import Db, insert_for
from backend.services.tokens import mark_redeemed_by_qr, note_refusal
from protocol.events import EventDocument, InvalidEvent, parse_event

MAX_BATCH = 500
# Devices buffer events while offline; older than this is a broken clock, not a backlog.
MAX_EVENT_AGE = timedelta(days=30)
MAX_EVENT_FUTURE = timedelta(minutes=10)


# The wire shape, defined once in protocol/ for the device and the backend alike.
EventIn = EventDocument


@dataclass(frozen=True)
class BatchResult:
    """How many events were new and how many had been stored before."""

    accepted: int
    duplicates: int


def _parse_event(raw: object, now: datetime) -> EventIn:
    event = parse_event(raw)
    if not now - MAX_EVENT_AGE <= event.occurred_at <= now + MAX_EVENT_FUTURE:
        raise InvalidEvent("occurred_at is too far from the server's time")
    return event


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

    Whether a face scan was offered is stored with each event: the device's own report,
    else the site's setting as the event arrives (for an online device, the moment of
    the dispense), so history never changes when the setting does.

    One multi-row INSERT ... ON CONFLICT DO NOTHING for the batch: RETURNING lists exactly
    the events stored now, so a resent batch is counted as duplicates and nothing else.
    """
    if not events:
        return BatchResult(accepted=0, duplicates=0)
    table = DeviceEvent.__table__
    site_offers_face = dispenser.site.face_mode_allowed
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
            "face_offered": (site_offers_face if event.face_offered is None else event.face_offered)
            or event.method == "face",
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
        elif event.kind == "refuse" and event.token_ref and event.reason:
            note_refusal(session, event.token_ref, event.reason)
    return BatchResult(accepted=len(stored), duplicates=len(events) - len(stored))
