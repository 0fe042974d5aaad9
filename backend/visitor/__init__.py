"""The visitor's pages: scan a dispenser's sticker, get a code, get paper; transparency.

Server-rendered and usable without JavaScript; zh-CN and English; nothing loaded from
another origin. ``init_app`` wires translations, cookie flags and the blueprint.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("visitor", __name__)

from backend.visitor import (  # noqa: E402, F401  (routes register on bp)
    errors,
    http_errors,
    pages,
    transparency,
)
from backend.visitor.i18n import init_babel  # noqa: E402
from backend.visitor.web import install_page_hooks  # noqa: E402

install_page_hooks(bp)


def init_app(app: Flask) -> None:
    """Register translations, the CSRF session cookie's flags and the visitor pages."""
    init_babel(app)
    # Flask's session cookie carries only the CSRF secret of the visitor's forms.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config["FAIRROLL_COOKIE_SECURE"])
    app.register_blueprint(bp)
    http_errors.init_app(app)
