"""Reading admin form fields into typed values with clear errors."""

from __future__ import annotations

from flask import request

from backend.errors import InvalidInput
from backend.request_guards import MAX_DB_INT, bounded_int
from backend.services.sites import SitePolicy


def form_int(name: str, label: str, *, required: bool = True) -> int | None:
    """An integer form field, or InvalidInput naming the field."""
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            raise InvalidInput(f"{label} is required")
        return None
    value = bounded_int(raw)
    if value is None:
        raise InvalidInput(f"{label} must be a whole number up to {MAX_DB_INT}")
    return value


def form_bool(name: str) -> bool:
    """A checkbox."""
    return request.form.get(name) in {"1", "on", "true", "yes"}


def policy_from_form() -> SitePolicy:
    """The site policy fields of the site form."""

    def number(name: str, label: str) -> int:
        value = form_int(name, label)
        assert value is not None
        return value

    return SitePolicy(
        portion_cm=number("portion_cm", "Portion (cm)"),
        window_seconds=number("window_minutes", "Window (minutes)") * 60,
        daily_cap=number("daily_cap", "Daily cap"),
        min_interval_seconds=number("min_interval_seconds", "Minimum interval (s)"),
        presence_required=form_bool("presence_required"),
        face_mode_allowed=form_bool("face_mode_allowed"),
        unrestricted=form_bool("unrestricted"),
    )
