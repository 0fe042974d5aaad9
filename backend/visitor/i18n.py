"""Language choice for visitor pages: Simplified Chinese or English.

Order: an explicit ``?lang=`` (the visible switch), then the remembered choice, then the
browser's Accept-Language. The choice is a preference cookie, not an identifier.
"""

from __future__ import annotations

from typing import NamedTuple

from flask import Flask, Response, current_app, has_request_context, request
from flask_babel import Babel, get_locale, refresh


class Language(NamedTuple):
    """One language of the pages."""

    tag: str  # BCP 47, for <html lang> and hreflang
    name: str  # in the language itself, for the switch
    catalog: str  # the Babel locale, which names the folder in backend/translations


# Keyed by the short code used in ``?lang=`` and the preference cookie.
LANGUAGES: dict[str, Language] = {
    "zh": Language("zh-CN", "简体中文", "zh_Hans_CN"),
    "en": Language("en", "English", "en"),
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
        if primary in LANGUAGES:
            return primary
    return None


def asked_language() -> str | None:
    """The language named by ``?lang=`` if it is one we have."""
    asked = request.args.get("lang", "")
    return asked if asked in LANGUAGES else None


def chosen_language() -> str:
    """The short code of this request's language."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    saved = request.cookies.get(LANG_COOKIE, "")
    return (
        asked_language()
        or (saved if saved in LANGUAGES else None)
        or _from_accept_language()
        or DEFAULT_LANGUAGE
    )


def select_locale() -> str:
    """The Babel locale for this request (Flask-Babel's locale selector)."""
    return LANGUAGES[chosen_language()].catalog


def current_language() -> str:
    """The short code of the language the page is rendered in."""
    locale = get_locale()
    language = locale.language if locale is not None else DEFAULT_LANGUAGE
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


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
    # Flask-Babel caches the locale in ``g``, which outlives a request when an app context
    # was already pushed (tests, CLI): choose afresh for every request.
    app.before_request(refresh)
