"""What every visitor page shares: security headers, template context, formatting."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_time
from flask import Blueprint, Response, g, render_template, request, url_for
from flask_babel import format_timedelta, get_locale, gettext
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from backend.models import Dispenser, Site
from backend.security_headers import is_not_modified
from backend.visitor.i18n import LANGUAGES, current_language, remember_language

# Everything from this origin, no inline script or style, no framing, forms post only
# here. Images may also be data: URIs, for the page's icon inlined into it (one request
# fewer on a phone's first visit); an image cannot run script.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
# Query parameters the language switch keeps on the page it links to.
KEPT_QUERY_KEYS = frozenset({"p"})
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def secure_headers(response: Response) -> Response:
    """The visitor pages' security headers and the remembered language."""
    if is_not_modified(response):
        return response
    if response.mimetype == "text/html":
        # Pages and redirects. JSON (the status poll) loads nothing: it gets the app's
        # strictest policy instead (backend/security_headers.py), half the bytes.
        response.headers.update(SECURITY_HEADERS)
    if request.path.startswith("/d/") and "Cache-Control" not in response.headers:
        # Dispenser pages hold a personal code and a form secret: never cache or share them.
        response.headers["Cache-Control"] = "no-store"
    remember_language(response)
    return response


def _language_links() -> list[dict[str, Any]]:
    """The switch: one link per language to this page (the landing page after a POST)."""
    current = current_language()
    links = []
    for code, (tag, name, _catalog) in LANGUAGES.items():
        if request.method == "GET" and request.endpoint:
            # Only the screen code is carried over: arbitrary query keys must never reach
            # url_for, whose "_scheme", "_external" and "_anchor" would shape the link.
            kept = {k: v for k, v in request.args.items() if k in KEPT_QUERY_KEYS}
            args = {**(request.view_args or {}), **kept, "lang": code}
            href = url_for(request.endpoint, **args)
        elif request.view_args and "public_id" in request.view_args:
            href = url_for("visitor.landing", public_id=request.view_args["public_id"], lang=code)
        else:
            href = f"?lang={code}"
        links.append(
            {"code": code, "tag": tag, "name": name, "href": href, "current": code == current}
        )
    return links


def common_context() -> dict[str, Any]:
    """What every visitor template needs: language, switch links, form secret."""
    return {
        "html_lang": LANGUAGES[current_language()].tag,
        "language_links": _language_links(),
        "csrf_token": generate_csrf,
        "duration_in": lambda seconds: duration(seconds, direction=True),
    }


def _forget_previous_request() -> None:
    # ``g`` can outlive a request (an app context pushed around several requests).
    g.visitor_dispenser = None


def install_page_hooks(bp: Blueprint) -> None:
    """Attach the headers and the shared template context to the visitor blueprint."""
    bp.before_request(_forget_previous_request)
    bp.after_request(secure_headers)
    bp.context_processor(common_context)


def page(template: str, *, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a visitor page with its HTTP status."""
    return render_template(template, **context), status


def csrf_ok() -> bool:
    """True when the posted form carries this visitor's valid CSRF token."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def dispenser_name(dispenser: Dispenser) -> str:
    """The label people see on the dispenser, or a neutral name."""
    return dispenser.label or gettext("Dispenser %(id)s", id=dispenser.public_id)


def local_time(site: Site, moment: datetime) -> str:
    """``moment`` as a short clock time in the site's timezone and the page's language."""
    return format_time(
        moment, format="short", tzinfo=zoneinfo.ZoneInfo(site.timezone), locale=get_locale()
    )


def is_another_day(site: Site, moment: datetime, now: datetime) -> bool:
    """True when ``moment`` falls on a later local day than ``now`` at the site."""
    tz = zoneinfo.ZoneInfo(site.timezone)
    return moment.astimezone(tz).date() > now.astimezone(tz).date()


def duration(seconds: int, *, direction: bool = False) -> str:
    """A rounded, translated duration such as "9 minutes" (or "in 9 minutes")."""
    return str(format_timedelta(timedelta(seconds=seconds), threshold=1.0, add_direction=direction))
