"""Keeping the signing-key metadata table in step with the key store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from backend.models import SigningKey
from backend.services.sql import Db
from backend.signing import KeyRing


def sync_signing_keys(session: Db, ring: KeyRing, *, now: datetime) -> None:
    """Record the ring's public keys and roles; keys no longer in the ring become retired."""
    documents = ring.public_key_documents()
    roles = {doc["kid"]: ("current" if i == 0 else "previous") for i, doc in enumerate(documents)}
    known = {key.kid: key for key in session.scalars(select(SigningKey))}
    for doc in documents:
        row = known.get(doc["kid"])
        if row is None:
            row = SigningKey(
                kid=doc["kid"],
                public_key=doc["public_key"],
                first_seen_at=now,
                role=roles[doc["kid"]],
            )
            session.add(row)
        row.role = roles[doc["kid"]]
    for kid, row in known.items():
        if kid not in roles and row.role != "retired":
            row.role = "retired"
            row.retired_at = now
    session.flush()
