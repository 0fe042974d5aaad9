"""What face mode tells the outside world: a kind and a method, nothing else."""

from __future__ import annotations

from device.face.types import FaceDecision, Outcome

# The only fields a face event may carry (docs/device-api.md). The outbox adds
# its own event id and time; nothing about the visitor is ever added.
EVENT_FIELDS = frozenset({"kind", "method"})


def face_event(decision: FaceDecision) -> dict[str, str] | None:
    """The event to put in the outbox for this decision, or None (no usable face)."""
    if decision.outcome is Outcome.DISPENSE:
        return {"kind": "dispense", "method": "face"}
    if decision.outcome is Outcome.REFUSE:
        return {"kind": "refuse", "method": "face"}
    return None
