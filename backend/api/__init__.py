"""The JSON API, versioned under /api/v1: visitor tokens, device endpoints, OpenAPI."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from backend.api import device, openapi, visitor  # noqa: E402, F401  (routes register on bp)
