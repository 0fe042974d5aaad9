"""The one clock both sides read: the current time, UTC and timezone-aware.

Read once at the edge (a request, a command, a loop turn) and passed into the logic as
``now``; nothing deeper reads the clock. Tests pass fixed times instead.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time in UTC (timezone-aware)."""
    return datetime.now(UTC)
