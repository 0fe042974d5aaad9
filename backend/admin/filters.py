"""Template filters of the admin pages: relative times."""

from __future__ import annotations

from datetime import datetime

from backend.admin import bp
from protocol.clock import utcnow


@bp.app_template_filter("ago")
def ago(moment: object) -> str:
    """'3 min ago' for a past datetime, '—' for None."""
    if not isinstance(moment, datetime):
        return "—"
    seconds = int((utcnow() - moment).total_seconds())
    if seconds < 90:
        return f"{max(seconds, 0)} s ago"
    if seconds < 5400:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


@bp.app_template_filter("until")
def until(moment: object) -> str:
    """'in 3.5 h (14:05 UTC)' for a future datetime, 'now' for a past one."""
    if not isinstance(moment, datetime):
        return "—"
    seconds = int((moment - utcnow()).total_seconds())
    if seconds <= 60:
        return "now"
    span = f"{seconds // 60} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
    return f"in {span} ({moment:%H:%M} UTC)"
