"""Security headers on every response: API, pages, static files, /metrics, error pages.

Areas with their own policy (the admin and visitor pages set a Content-Security-Policy
that lets their own scripts and styles load) keep it; everything else gets the strictest
one, because JSON, text and error pages load nothing at all.
"""

from __future__ import annotations

from flask import Flask, Response

# Two years, every subdomain: the service is only ever reached over HTTPS in production
# (browsers ignore the header on plain-HTTP development servers).
HSTS = "max-age=63072000; includeSubDomains"
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# HTML without a policy of its own (error pages): its own styles and images, no scripts.
ERROR_PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Strict-Transport-Security": HSTS,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def add_security_headers(response: Response) -> Response:
    """Add the headers a response lacks (a policy set by its blueprint stays), in one
    pass over the headers it has."""
    if is_not_modified(response):
        return response
    present = {name.lower() for name, _ in response.headers}
    missing = [(name, value) for name, value in HEADERS.items() if name.lower() not in present]
    if "content-security-policy" not in present:
        html = response.mimetype == "text/html"
        missing.append(("Content-Security-Policy", ERROR_PAGE_CSP if html else STRICT_CSP))
    response.headers.extend(missing)
    return response


def is_not_modified(response: Response) -> bool:
    """True for a 304, which needs none of the security headers.

    A 304 has no body: it tells the browser to reuse the response it stored, whose headers
    stay in force (a cache replaces only the fields a 304 carries, RFC 9111 section 4.3.4).
    The 200 that was stored had them all, so repeating them would only add bytes: about
    two thirds of each answer to the phone's status poll while its code is unchanged.
    """
    return response.status_code == 304


def init_app(app: Flask) -> None:
    """Add the headers to every response of ``app``."""
    app.after_request(add_security_headers)
