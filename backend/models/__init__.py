"""Data only: every table of the backend. The rules live in backend.services."""

from backend.models.aggregate import DailyAggregate
from backend.models.alert import Alert, PaperReading
from backend.models.audit import AuditEntry
from backend.models.base import Base
from backend.models.dispenser import DeviceCredential, Dispenser, EnrollmentCode
from backend.models.event import DeviceEvent
from backend.models.operator import Operator
from backend.models.signing_key import SigningKey
from backend.models.site import Site
from backend.models.token import (
    AccessToken,
    CodeAttemptThrottle,
    CodeSourceBudget,
    DailySecret,
    LiveTokenSlot,
    QuotaUsage,
)
from backend.models.voucher import Voucher, VoucherBatch

__all__ = [
    "AccessToken",
    "Alert",
    "AuditEntry",
    "Base",
    "CodeAttemptThrottle",
    "CodeSourceBudget",
    "DailyAggregate",
    "DailySecret",
    "DeviceCredential",
    "DeviceEvent",
    "Dispenser",
    "EnrollmentCode",
    "LiveTokenSlot",
    "Operator",
    "PaperReading",
    "QuotaUsage",
    "SigningKey",
    "Site",
    "Voucher",
    "VoucherBatch",
]
