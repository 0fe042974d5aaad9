"""Domain errors raised by services: a rule said no (no Flask here; see http_errors.py).

Each carries the HTTP ``status`` and ``code`` the web layer answers with, as data: the
services stay free of any web framework.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class DomainError(Exception):
    """A rule said no. ``status`` and ``code`` say how the HTTP layer answers."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.extra = extra


class InvalidInput(DomainError):
    """The request is malformed: wrong types, missing fields, bad formats."""

    status = 400
    code = "invalid_input"


class NotFound(DomainError):
    """The named thing does not exist."""

    status = 404
    code = "not_found"


class DispenserNotFound(NotFound):
    """No dispenser has that public id."""

    code = "dispenser_unknown"


class EnrollmentCodeInvalid(NotFound):
    """The enrollment code is unknown, used or expired."""

    code = "enrollment_code_invalid"


class DeviceKeyInvalid(DomainError):
    """The device key is missing, unknown or revoked."""

    status = 401
    code = "device_key_invalid"


class PresenceRequired(DomainError):
    """The site wants proof that the phone is in front of the dispenser."""

    status = 403
    code = "presence_required"


class DispenserUnavailable(DomainError):
    """The dispenser cannot dispense now (disabled, empty, jammed)."""

    status = 409
    code = "dispenser_unavailable"


class QuotaExhausted(DomainError):
    """The visitor had their portion; ``retry_after`` says in how many seconds the next one
    is due, ``available_at`` (if known) the moment itself (for pages, not the JSON)."""

    status = 429
    code = "quota_exhausted"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        available_at: datetime | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message, retry_after=retry_after, **extra)
        self.available_at = available_at


class DispenserBusy(DomainError):
    """The dispenser's minimum interval between portions has not passed."""

    status = 429
    code = "dispenser_busy"


class TooManyAttempts(DomainError):
    """Too many wrong typed codes at this dispenser; back off."""

    status = 429
    code = "too_many_attempts"


class CodeInvalid(DomainError):
    """No live token or voucher has that code at this dispenser."""

    status = 422
    code = "code_invalid"


class ConflictError(DomainError):
    """The request conflicts with existing data (a duplicate name, say)."""

    status = 409
    code = "conflict"
