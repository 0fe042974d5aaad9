"""Hostile input gets a clear 4xx, never a 500: bounded ids, bounded JSON, no control characters.

- Path integers (``<int:...>``) beyond the database's 32-bit integer columns never match
  a route (404), on SQLite and PostgreSQL alike.
- JSON nested deeper than MAX_JSON_DEPTH, or deep enough to exhaust Python's recursion,
  is not JSON as far as the app is concerned (400).
- NUL and other control characters, and lone surrogates, in any text the client sends
  (path, query, form, JSON strings and keys) are refused with 400 before any view runs:
  PostgreSQL cannot store NUL, and no field of this product wants control characters.
- A body without Content-Length (chunked) is read up to the limit plus one byte before the
  app sees it: over the limit is 413, never a body silently cut at the limit.
- Database value errors (a number out of a column's range) become 400 as a last resort.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, abort, current_app, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import DataError, DBAPIError
from werkzeug.routing import IntegerConverter

log = logging.getLogger(__name__)
# The largest value of the INTEGER columns every id lives in (PostgreSQL's int4).
MAX_DB_INT = 2**31 - 1
MAX_JSON_DEPTH = 32
# C0 controls except tab, line feed and carriage return; DEL; UTF-16 surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that matches only non-negative values a database integer can hold."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_DB_INT)
        super().__init__(map, *args, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing documents nested beyond MAX_JSON_DEPTH (ValueError)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; raise ValueError for too-deep nesting instead of RecursionError."""
        if _nesting_exceeds(s, MAX_JSON_DEPTH):
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            return json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def _nesting_exceeds(s: str | bytes, limit: int) -> bool:
    """True if brackets outside strings nest deeper than ``limit`` (a linear scan)."""
    text = s.decode("utf-8", "replace") if isinstance(s, bytes) else s
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def bounded_int(raw: str | None) -> int | None:
    """A query or form integer a database column can hold, or None when it is not one."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 11:
        return None
    value = int(raw)
    return value if -MAX_DB_INT <= value <= MAX_DB_INT else None


def _texts(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included (iteratively: depth is bounded)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _client_texts() -> Iterator[str]:
    yield request.path
    for key, value in request.args.items(multi=True):
        yield key
        yield value
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # Cache the raw body first: parsing the form would otherwise consume it, and a
        # view that reads the body itself (to refuse a form where JSON belongs) gets none.
        request.get_data(cache=True, parse_form_data=False)
        for key, value in request.form.items(multi=True):
            yield key
            yield value
    if request.is_json:
        yield from _texts(request.get_json(silent=True))


def refuse_control_characters() -> None:
    """Abort with 400 when any text the client sent holds a control character."""
    for text in _client_texts():
        if _FORBIDDEN.search(text):
            abort(400, description="The request holds control characters; send plain text.")


class StreamedBodyLimit:
    """WSGI middleware: buffer a body of unknown length (chunked) up to ``limit`` bytes.

    Werkzeug reads such a stream only up to MAX_CONTENT_LENGTH and stops there without an
    error, so an oversized chunked body would reach the view cut short. Here it is read
    whole (at most ``limit`` + 1 bytes); when it is too long the request is marked and
    answered 413 by :func:`refuse_oversized_body`, with the app's usual headers.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Buffer the unknown-length body, then call the app."""
        if environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
            data = environ["wsgi.input"].read(self.limit + 1)
            if len(data) > self.limit:
                environ[_TOO_LARGE] = True
                data = b""
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
        return self.app(environ, start_response)


_TOO_LARGE = "fairroll.body_too_large"


def refuse_oversized_body() -> None:
    """Answer 413 for a body over the limit, declared or streamed, before any view runs."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    declared = request.content_length
    if request.environ.get(_TOO_LARGE) or (limit and declared and declared > limit):
        abort(413, description="The request body is larger than this service accepts.")


def init_app(app: Flask) -> None:
    """Install the guards; call before any blueprint is registered (for the converter)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = BoundedJSONProvider(app)
    limit = app.config.get("MAX_CONTENT_LENGTH")
    if limit:
        app.wsgi_app = StreamedBodyLimit(app.wsgi_app, int(limit))  # type: ignore[method-assign]
    app.before_request(refuse_oversized_body)
    app.before_request(refuse_control_characters)

    app.register_error_handler(DataError, value_out_of_range)
    app.register_error_handler(DBAPIError, unexpected_database_error)


def value_out_of_range(error: DataError) -> Response:
    """A value the column cannot hold (a number out of range): the client's mistake, 400."""
    from backend.extensions import db
    from backend.http_errors import describe_database_error, json_error

    db.session.rollback()
    log.info("database refused a value: %s", describe_database_error(error))
    return json_error(400, "invalid_input", "A value is out of the range this field holds.")


def unexpected_database_error(error: DBAPIError) -> Response:
    """Any other database error: logged without the statement's values, answered 500."""
    from backend.extensions import db
    from backend.http_errors import describe_database_error, json_error

    db.session.rollback()
    log.error("database error: %s", describe_database_error(error))
    return json_error(500, "internal_error", "Something went wrong on our side; try again.")
