"""Data only: every table of the backend. The rules live in backend.services."""

from backend.models.aggregate import DailyAggregate
from backend.models.alert import Alert, PaperReading
from backend.models.audit import AuditEntry
from backend.models.base import Base
from backend.models.dispenser import DeviceCredential, Dispenser, EnrollmentCode
from backend.models.event import DeviceEvent
from backend.models.fleet_job import DailyCount, FleetJobRun, HourlyCount, PaperForecast
from backend.models.incident import Incident, MaintenanceWindow
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
    "DailyCount",
    "DailySecret",
    "DeviceCredential",
    "DeviceEvent",
    "Dispenser",
    "EnrollmentCode",
    "FleetJobRun",
    "HourlyCount",
    "Incident",
    "LiveTokenSlot",
    "MaintenanceWindow",
    "Operator",
    "PaperForecast",
    "PaperReading",
    "QuotaUsage",
    "SigningKey",
    "Site",
    "Voucher",
    "VoucherBatch",
]
