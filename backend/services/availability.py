"""Whether a dispenser can serve a visitor now, and which others at its site can."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from backend.models import Dispenser
from backend.models.dispenser import NON_DISPENSING_STATUSES
from backend.services.sql import Db

# A device that missed this many heartbeats in a row counts as offline.
MISSED_HEARTBEATS_OFFLINE = 3


@dataclass(frozen=True)
class Availability:
    """What the visitor page says about a dispenser.

    ``reason`` is None when it can dispense, else "disabled", "empty" or "jam".
    ``offline`` means the backend has not heard from it lately: QR codes still work there
    (the device checks them itself), typed codes do not.
    """

    reason: str | None
    offline: bool

    @property
    def can_dispense(self) -> bool:
        """True when a token for this dispenser would be issued."""
        return self.reason is None


def is_offline(dispenser: Dispenser, *, now: datetime, heartbeat: timedelta) -> bool:
    """True when a device that used to report has missed several heartbeats."""
    last = dispenser.last_heartbeat_at
    # A dispenser that never reported (not yet enrolled, a sticker-only demo) is not
    # called offline: the page cannot know, and the QR path works either way.
    return last is not None and now - last > heartbeat * MISSED_HEARTBEATS_OFFLINE


def dispenser_availability(
    dispenser: Dispenser, *, now: datetime, heartbeat: timedelta
) -> Availability:
    """Say whether ``dispenser`` can dispense and whether it is reachable."""
    reason: str | None = None
    if not dispenser.enabled:
        reason = "disabled"
    elif dispenser.status in NON_DISPENSING_STATUSES:
        reason = dispenser.status
    return Availability(reason=reason, offline=is_offline(dispenser, now=now, heartbeat=heartbeat))


def alternative_dispensers(
    session: Db, dispenser: Dispenser, *, now: datetime, heartbeat: timedelta
) -> list[Dispenser]:
    """Other dispensers of the same site that can dispense and are online, by label."""
    others = session.scalars(
        select(Dispenser)
        .where(
            Dispenser.site_id == dispenser.site_id,
            Dispenser.id != dispenser.id,
            Dispenser.enabled.is_(True),
            Dispenser.status.not_in(NON_DISPENSING_STATUSES),
        )
        .order_by(Dispenser.label, Dispenser.id)
    ).all()
    return [d for d in others if not is_offline(d, now=now, heartbeat=heartbeat)]
