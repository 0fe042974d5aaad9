"""The operators' admin UI under /admin: fleet view, sites, dispensers, vouchers, audit."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask

bp = Blueprint(
    "admin", __name__, url_prefix="/admin", static_folder="static", static_url_path="/static"
)


def init_app(app: Flask) -> None:
    """Secure session cookies for operators, then the admin routes.

    The visitor pages keep only their CSRF secret in the same Flask session cookie, with
    the same flags; operators' sessions add their account, version and CSRF token.
    """
    from backend.admin.security import CookieSessionInterface

    app.session_interface = CookieSessionInterface()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = app.config["FAIRROLL_COOKIE_SECURE"]
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        hours=app.config["FAIRROLL_ADMIN_SESSION_HOURS"]
    )
    from backend.admin import (  # noqa: F401  (routes register on bp)
        filters,
        views_auth,
        views_fleet,
        views_maintenance,
        views_sites,
        views_vouchers,
    )

    app.register_blueprint(bp)
