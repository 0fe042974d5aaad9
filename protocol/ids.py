"""Dispenser public ids: 6 random bytes, shown as 10 lowercase base32 characters."""

from __future__ import annotations

import base64
import re
import secrets

DISPENSER_ID_BYTES = 6
_PUBLIC_ID_RE = re.compile(r"^[a-z2-7]{10}$")


class InvalidDispenserId(ValueError):
    """The text is not a well-formed dispenser public id."""


def new_dispenser_public_id() -> str:
    """Return a fresh random dispenser public id."""
    return dispenser_id_to_text(secrets.token_bytes(DISPENSER_ID_BYTES))


def dispenser_id_to_text(raw: bytes) -> str:
    """Render the 6 raw bytes of a dispenser id as its public id."""
    if len(raw) != DISPENSER_ID_BYTES:
        raise InvalidDispenserId(f"a dispenser id has {DISPENSER_ID_BYTES} bytes, not {len(raw)}")
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def dispenser_id_to_bytes(public_id: str) -> bytes:
    """Parse a dispenser public id into its 6 raw bytes."""
    if not isinstance(public_id, str) or not _PUBLIC_ID_RE.fullmatch(public_id):
        raise InvalidDispenserId("a dispenser id is 10 characters from a-z and 2-7")
    raw = base64.b32decode(public_id.upper() + "======")
    if dispenser_id_to_text(raw) != public_id:
        # The last character carries two unused bits; only the canonical form is valid.
        raise InvalidDispenserId("not a canonical dispenser id")
    return raw


def is_dispenser_public_id(text: str) -> bool:
    """Tell whether ``text`` has the shape of a dispenser public id."""
    return bool(_PUBLIC_ID_RE.fullmatch(text))
