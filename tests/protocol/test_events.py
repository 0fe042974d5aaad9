"""The event document both sides share: what the device writes, the backend parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from device.store import Store
from protocol.events import EventDocument, InvalidEvent, new_event_id, parse_event

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def test_a_document_survives_the_wire_unchanged() -> None:
    sent = EventDocument(new_event_id(), "dispense", "qr", NOW, token_ref="ab" * 32)
    assert parse_event(sent.to_json()) == sent
    assert "reason" not in sent.to_json()


def test_times_travel_as_utc_with_their_offset() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=8)))
    body = EventDocument(new_event_id(), "refuse", "code", local, reason="expired").to_json()
    assert body["occurred_at"] == "2026-11-22T05:00:00+00:00"
    assert parse_event(body).occurred_at == NOW


def test_every_event_the_device_ledger_writes_parses_on_the_backend_side(tmp_path: Path) -> None:
    store = Store(tmp_path / "ledger.db")
    try:
        store.record_dispense(method="qr", now=NOW, token_ref="cd" * 32)
        store.record_refusal(method="code", reason="expired", now=NOW)
        store.record_refusal(method="face", reason="window", now=NOW)
        parsed = [parse_event(event.body) for event in store.pending_events(10)]
    finally:
        store.close()
    assert [(e.kind, e.method, e.reason) for e in parsed] == [
        ("dispense", "qr", None),
        ("refuse", "code", "expired"),
        ("refuse", "face", None),  # a face refusal carries no reason (docs/face.md)
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "take"}, "kind must be one of"),
        ({"method": "palm"}, "method must be one of"),
        ({"event_id": "XYZ"}, "event_id"),
        ({"occurred_at": "2026-11-22T05:00:00"}, "needs a timezone"),
        ({"occurred_at": "yesterday"}, "ISO 8601"),
        ({"extra": 1}, "unknown fields"),
        ({"method": "face", "token_ref": "ab" * 32}, "only qr and code"),
    ],
)
def test_bad_documents_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    body = {**EventDocument(new_event_id(), "dispense", "qr", NOW).to_json(), **change}
    with pytest.raises(InvalidEvent, match=message):
        parse_event(body)
