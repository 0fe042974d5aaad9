"""Unknown paths (404) and wrong methods (405) as pages in the visitor's language.

Browsers get a page in Chinese or English (the same language rules as every visitor
page); API clients, and anything under /api/, get the JSON error shape instead.
"""

from __future__ import annotations

from flask import Flask, Response, render_template
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from backend.http_errors import json_error, wants_json
from backend.visitor.web import common_context, secure_headers


def _answer(error: HTTPException) -> Response:
    status = error.code or 500
    if wants_json():
        code = (error.name or "error").lower().replace(" ", "_")
        response = json_error(status, code, error.description or "")
    else:
        if status == 405:
            title = gettext("This page cannot be used that way")
            advice = gettext("Go back and use the buttons on the page, or open it again.")
        else:
            title = gettext("There is no page here")
            advice = gettext(
                "Check the address, or scan the sticker on the dispenser again. "
                "If it still does not work, ask the staff."
            )
        html = render_template(
            "visitor/http_error.html", title=title, advice=advice, **common_context()
        )
        response = Response(html, status=status, mimetype="text/html")
    valid = getattr(error, "valid_methods", None)
    if status == 405 and valid:
        response.headers["Allow"] = ", ".join(valid)
    return secure_headers(response)


def init_app(app: Flask) -> None:
    """Answer 404 and 405 with a localized page (or JSON for API clients)."""
    app.register_error_handler(404, _answer)
    app.register_error_handler(405, _answer)
