"""Builds the ScreenView for each state of the dispenser (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import pyotp

from device import messages
from device.decide import Dispense, Refuse
from device.hardware.screen import ScreenView
from device.messages import Text
from device.remote import RemoteConfig


@dataclass(frozen=True)
class Status:
    """Facts about the dispenser that every screen shows."""

    online: bool
    paper_level: int
    status: str
    face_available: bool
    simulation: bool


def presence_url(remote: RemoteConfig, now: datetime) -> str | None:
    """The visitor URL with the current presence code, when the site requires presence."""
    presence = remote.presence
    if presence is None:
        return None
    totp = pyotp.TOTP(presence.secret, digits=presence.digits, interval=presence.interval_seconds)
    return f"{remote.visitor_url}?p={totp.at(now)}"


def buttons_for(remote: RemoteConfig | None, status: Status) -> tuple[str, ...]:
    """Which buttons the screen offers."""
    if remote is None:
        return ("help",)
    if remote.policy.unrestricted:
        return ("dispense", "help")
    names = ["use_phone", "type_code"]
    if remote.policy.face_mode_allowed and status.face_available:
        names.append("use_face")
    names.append("help")
    return tuple(names)


def base_view(remote: RemoteConfig | None, status: Status, now: datetime) -> ScreenView:
    """The idle screen: instructions, presence QR, buttons."""
    if remote is None:
        title = messages.refusal_text("not_enrolled")
    elif remote.policy.unrestricted:
        title = messages.UNRESTRICTED
    elif remote.presence is not None:
        title = messages.IDLE_PRESENCE
    else:
        title = messages.IDLE
    detail = messages.OFFLINE_NOTE if remote is not None and not status.online else Text("", "")
    if remote is not None and not remote.enabled:
        title, detail = messages.refusal_text("disabled"), Text("", "")
    return ScreenView(
        mode="idle",
        title_zh=title.zh,
        title_en=title.en,
        detail_zh=detail.zh,
        detail_en=detail.en,
        buttons=buttons_for(remote, status),
        presence_url=presence_url(remote, now) if remote is not None and remote.enabled else None,
        online=status.online,
        enrolled=remote is not None,
        paper_level=status.paper_level,
        status=status.status,
        site_name=remote.site_name if remote is not None else "",
        simulation=status.simulation,
    )


def with_text(view: ScreenView, mode: str, title: Text, detail: Text | None = None) -> ScreenView:
    """The view in another mode with other texts."""
    detail = detail or Text("", "")
    return replace(
        view,
        mode=mode,
        title_zh=title.zh,
        title_en=title.en,
        detail_zh=detail.zh,
        detail_en=detail.en,
    )


def result_view(
    base: ScreenView, decision: Dispense | Refuse, attempt: int, now: datetime
) -> ScreenView:
    """The large-text result of one attempt."""
    if isinstance(decision, Dispense):
        view = with_text(base, "result", messages.DISPENSED)
        return replace(view, outcome="dispense", attempt=attempt)
    detail = messages.retry_note(decision.retry_at, now) or messages.next_step(decision.reason)
    view = with_text(base, "result", messages.refusal_text(decision.reason), detail)
    return replace(view, outcome="refuse", attempt=attempt)
