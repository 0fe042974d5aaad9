"""The audit log of administrative changes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from backend.models import AuditEntry, Operator
from backend.services.sql import Db


def record_audit(
    session: Db,
    actor: Operator | str,
    action: str,
    *,
    now: datetime,
    target: str = "",
    **detail: Any,
) -> AuditEntry:
    """Append one entry: ``actor`` did ``action`` to ``target``. Never pass secrets in detail.

    Added, not flushed: it is written with the caller's other changes (many entries in
    one batched INSERT), and rolled back with them."""
    entry = AuditEntry(
        operator_id=actor.id if isinstance(actor, Operator) else None,
        actor=actor.email if isinstance(actor, Operator) else actor,
        action=action,
        target=target[:200],
        detail=json.dumps(detail, sort_keys=True, default=str),
        created_at=now,
    )
    session.add(entry)
    return entry


def recent_audit(session: Db, *, limit: int = 200) -> list[AuditEntry]:
    """The newest audit entries first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
    )
