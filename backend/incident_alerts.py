"""Turn the check run's incident notices into at most one message to the people on duty.

The fleet check calls ``notify_incidents`` once per run, after its alert changes are
committed. However many dispensers went offline, the run sends one digest: the incidents
that opened (with their site's dispenser count and the link to the site's list), those
still going whose reminder is due, and those resolved. Notices of sites under a
maintenance window are only logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Incident
from backend.notify import notifier
from backend.services.incidents import OPENED, REMINDER, RESOLVED, IncidentNotice, update_incidents

log = logging.getLogger("fairroll.alerts")

# Longer digests list the largest incidents and count the rest: a message must stay readable.
LISTED = 15
_WORDS = {OPENED: "NEW", REMINDER: "STILL", RESOLVED: "RESOLVED"}


@dataclass(frozen=True)
class IncidentDigest:
    """One message: a subject line, a plain-text body, and the kinds it concerns."""

    subject: str
    text: str
    kinds: list[str] = field(default_factory=list)


def _summary(notices: list[IncidentNotice], change: str) -> str:
    """E.g. 'NEW offline: 340 dispensers at 12 sites'."""
    parts = []
    for kind in sorted({n.kind for n in notices}):
        same = [n for n in notices if n.kind == kind]
        count = sum(n.peak if change == RESOLVED else n.dispensers for n in same)
        sites = len(same)
        parts.append(
            f"{kind.replace('_', ' ')}: {count} dispenser{'s' * (count != 1)} "
            f"at {sites} site{'s' * (sites != 1)}"
        )
    return f"{_WORDS[change]} " + ", ".join(parts)


def compose_digest(
    notices: list[IncidentNotice],
    *,
    base_url: str,
    now: datetime,
    open_sites: int,
    open_dispensers: int,
) -> IncidentDigest | None:
    """The message for the notices not silenced; None when there is nothing to send."""
    loud = [n for n in notices if not n.silenced]
    if not loud:
        return None
    by_change = {c: [n for n in loud if n.change == c] for c in (OPENED, REMINDER, RESOLVED)}
    summaries = [_summary(group, change) for change, group in by_change.items() if group]
    subject = f"[fairroll] {'; '.join(summaries)}"
    # SNS subjects: ASCII, at most 100 characters.
    subject = subject.encode("ascii", "replace").decode()[:100]
    lines = [f"fairroll incidents at {now:%Y-%m-%d %H:%M} UTC", ""]
    for change, group in by_change.items():
        ranked = sorted(group, key=lambda n: (-max(n.dispensers, n.peak), n.site))
        for notice in ranked[:LISTED]:
            count = notice.peak if change == RESOLVED else notice.dispensers
            since = f", since {notice.opened_at:%H:%M} UTC" if change != OPENED else ""
            lines.append(
                f"{_WORDS[change]:8} {notice.kind:12} {notice.site}: {count} dispenser"
                f"{'s' * (count != 1)}{since}  {base_url}/admin/?site={notice.site_id}"
            )
        if len(ranked) > LISTED:
            lines.append(f"{'':8} ... and {len(ranked) - LISTED} more sites")
    lines += [
        "",
        f"Open now: {open_dispensers} dispensers in {open_sites} incidents.",
        f"Every open alert: {base_url}/admin/alerts",
    ]
    return IncidentDigest(subject, "\n".join(lines), sorted({n.kind for n in loud}))


def notify_incidents(app: Flask, *, now: datetime) -> list[IncidentNotice]:
    """Update the incidents from the open alerts, commit, then send one digest (if any)."""
    every = timedelta(minutes=app.config["FAIRROLL_INCIDENT_REMINDER_MINUTES"])
    notices = update_incidents(db.session, now=now, reminder_every=every)
    db.session.commit()
    for notice in notices:
        if notice.silenced:
            log.info(
                "incident %s during maintenance: %s at %s (%d dispensers)",
                notice.change,
                notice.kind,
                notice.site,
                notice.dispensers,
            )
    if not any(not n.silenced for n in notices):
        return notices
    incidents, dispensers = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Incident.dispensers), 0)).where(
            Incident.is_open.is_(True)
        )
    ).one()
    digest = compose_digest(
        notices,
        base_url=app.config["FAIRROLL_PUBLIC_URL"],
        now=now,
        open_sites=int(incidents),
        open_dispensers=int(dispensers),
    )
    if digest is not None:
        notifier(app).page(digest)
    return notices
