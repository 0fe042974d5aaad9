"""Data only: every table of the backend. The rules live in backend.services."""

from backend.models.base import Base
from backend.models.dispenser import DeviceCredential, Dispenser, EnrollmentCode
from backend.models.event import DeviceEvent
from backend.models.signing_key import SigningKey
from backend.models.site import Site
from backend.models.token import AccessToken, CodeAttemptThrottle, DailySecret, QuotaUsage

__all__ = [
    "AccessToken",
    "Base",
    "CodeAttemptThrottle",
    "DailySecret",
    "DeviceCredential",
    "DeviceEvent",
    "Dispenser",
    "EnrollmentCode",
    "QuotaUsage",
    "SigningKey",
    "Site",
]
