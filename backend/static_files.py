"""The app's static files: versioned URLs cached for a year, gzipped when the phone accepts.

Every file under ``backend/static`` is read once when the app is built; its URL carries a
hash of its bytes (``/static/visitor/visitor.css?v=3f9a...``), so a page can tell the
browser to keep it for a year without asking again (``immutable``): a changed file gets a
new URL. A URL without the version, or with another file's version, is still served, with
a short cache. Text files are gzipped once, here; they hold no secret, so compressing
them opens nothing to BREACH-style guessing (pages with codes are never compressed).
Restart the app after editing a static file.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, request
from markupsafe import Markup
from werkzeug.exceptions import NotFound

# A versioned URL names these exact bytes for ever: browsers keep it and never revalidate.
IMMUTABLE = "public, max-age=31536000, immutable"
# Unversioned URLs: nothing of ours links them; kept briefly (another version's URL:
# not kept at all, see serve_static).
SHORT = "public, max-age=300"
VERSION_ARG = "v"
VERSION_LENGTH = 12  # hex digits of SHA-256: 48 bits, plenty to tell two builds apart
COMPRESSIBLE = ("text/", "image/svg+xml", "application/javascript", "application/json")
# Bytes a file must shrink by before gzip is worth the phone's decoding.
MIN_SAVING = 64


@dataclass(frozen=True)
class StaticFile:
    """One static file as served: its bytes, their gzip, its type and version."""

    body: bytes
    gzipped: bytes | None
    mimetype: str
    version: str


def read_static_file(path: Path) -> StaticFile:
    """Read ``path`` and prepare what serving it needs (version, gzip)."""
    body = path.read_bytes()
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    gzipped = None
    if mimetype.startswith(COMPRESSIBLE):
        # mtime=0: the same bytes give the same gzip on every task (stable ETags).
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        if len(packed) + MIN_SAVING <= len(body):
            gzipped = packed
    version = hashlib.sha256(body).hexdigest()[:VERSION_LENGTH]
    return StaticFile(body, gzipped, mimetype, version)


def read_static_folder(folder: Path) -> dict[str, StaticFile]:
    """Every file under ``folder``, by its path relative to it ("visitor/visitor.css")."""
    return {
        path.relative_to(folder).as_posix(): read_static_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def static_files() -> dict[str, StaticFile]:
    """The current app's static files."""
    files: dict[str, StaticFile] = current_app.extensions["fairroll.static_files"]
    return files


def data_uri(filename: str) -> Markup:
    """A static file as a ``data:`` URI (the visitor's icon, inlined into its pages)."""
    file = static_files()[filename]
    # Percent-encode all but what a URI allows as is: shorter than base64 for SVG text.
    text = quote(file.body.decode("utf-8"), safe="/=:;,.-'")
    # Safe in a double-quoted attribute: quote() encoded every " < > & of our own file.
    return Markup(f"data:{file.mimetype},{text}")  # noqa: S704


def serve_static(filename: str) -> Response:
    """The ``static`` endpoint: the file, gzipped when accepted, cached by its version."""
    file = static_files().get(filename)
    if file is None:
        raise NotFound()
    use_gzip = file.gzipped is not None and request.accept_encodings.quality("gzip") > 0
    response = current_app.response_class(
        file.gzipped if use_gzip and file.gzipped is not None else file.body,
        mimetype=file.mimetype,
    )
    if file.gzipped is not None:
        response.vary.add("Accept-Encoding")
    if use_gzip:
        response.content_encoding = "gzip"
    # The two encodings are different bytes, so each has its own strong validator.
    response.set_etag(f"{file.version}-gz" if use_gzip else file.version)
    # Immutable only when the URL names these bytes: during a rolling deploy an old task
    # may be asked for a new version, and must not let the browser keep old bytes under it.
    asked = request.args.get(VERSION_ARG)
    if asked == file.version:
        response.headers["Cache-Control"] = IMMUTABLE
    elif asked is None:
        response.headers["Cache-Control"] = SHORT
    else:  # another version's URL: never keep these bytes under it
        response.headers["Cache-Control"] = "no-store"
    response.make_conditional(request)  # a matching If-None-Match makes it a 304
    return response


def _add_version(endpoint: str, values: dict[str, Any]) -> None:
    """``url_for("static", filename=...)`` gets the file's version in its query string."""
    if endpoint != "static" or VERSION_ARG in values:
        return
    file = static_files().get(values.get("filename", ""))
    if file is not None:
        values[VERSION_ARG] = file.version


def init_app(app: Flask) -> None:
    """Read the static folder and serve it from memory with versioned URLs."""
    if app.static_folder is None:
        return
    app.extensions["fairroll.static_files"] = read_static_folder(Path(app.static_folder))
    app.view_functions["static"] = serve_static
    app.url_defaults(_add_version)
    app.jinja_env.globals["static_data_uri"] = data_uri
