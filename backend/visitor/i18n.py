"""Language choice for visitor pages: Simplified Chinese or English.

Order: an explicit ``?lang=`` (the visible switch), then the remembered choice, then the
browser's Accept-Language. The choice is a preference cookie, not an identifier.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, has_request_context, request
from flask_babel import Babel

# Catalog name -> (BCP 47 tag for <html lang>, name shown in the switch, in its own language).
LANGUAGES: dict[str, tuple[str, str]] = {
    "zh_CN": ("zh-CN", "简体中文"),
    "en": ("en", "English"),
}
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "fr_lang"
LANG_COOKIE_MAX_AGE = 180 * 24 * 3600

babel = Babel()


def _from_accept_language() -> str | None:
    # Any Chinese (zh, zh-CN, zh-Hans, zh-TW...) gets the Simplified catalog: it is far
    # closer for a Chinese reader than the English fallback.
    for tag, _quality in request.accept_languages:
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary == "zh":
            return "zh_CN"
        if primary == "en":
            return "en"
    return None


def asked_language() -> str | None:
    """The language named by ``?lang=`` if it is one we have."""
    asked = request.args.get("lang", "")
    return asked if asked in LANGUAGES else None


def select_locale() -> str:
    """The catalog for this request."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    saved = request.cookies.get(LANG_COOKIE, "")
    return (
        asked_language()
        or (saved if saved in LANGUAGES else None)
        or _from_accept_language()
        or DEFAULT_LANGUAGE
    )


def remember_language(response: Response) -> None:
    """Keep the language picked with the switch for the next pages."""
    asked = asked_language()
    if asked and request.cookies.get(LANG_COOKIE) != asked:
        response.set_cookie(
            LANG_COOKIE,
            asked,
            max_age=LANG_COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config["FAIRROLL_COOKIE_SECURE"]),
        )


def init_babel(app: Flask) -> None:
    """Attach Flask-Babel with our locale selector (catalogs in backend/translations)."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    babel.init_app(app, locale_selector=select_locale)
