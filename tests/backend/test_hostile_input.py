"""One corpus of hostile input through every route of the app, on SQLite and PostgreSQL.

Routes come from the app's url_map, so a new route is covered without editing this file.
The client is signed in as an admin and sends an enrolled device's key, so the admin
pages and the device API are reached past their guards; visitor pages need neither.
Every answer must be below 500 and say what was wrong.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError
from werkzeug.routing import Rule

from backend.extensions import db
from backend.models import Dispenser
from backend.request_guards import MAX_DB_INT, unexpected_database_error
from tests.backend.fleet_helpers import csrf_from, make_operator, sign_in
from tests.factories import auth, enroll, make_dispenser, make_site

HUGE = "99999999999999999999"
JUST_OVER = str(MAX_DB_INT + 1)
NUL = "a\x00b"
TEN_MB = 10 * 1024 * 1024
# Every field name any handler reads (query, form or JSON), so each meets each value.
FIELDS = [
    *("code", "enrollment_code", "software_version", "status", "paper_level", "events"),
    *("presence", "email", "password", "name", "timezone", "contact", "label", "site"),
    *("count", "valid_days", "note", "role", "active", "current", "new", "repeat"),
    *("portion_cm", "window_minutes", "daily_cap", "min_interval_seconds", "p", "lang"),
    *("limit", "since"),
]
HOSTILE_VALUES: list[Any] = [NUL, "\x1b[31m", "\ud800", HUGE, JUST_OVER, "-1", -(2**63), 10**30]
WRONG_TYPES: list[Any] = [[], {"x": None}, True, 1.5e308, None]
PATH_VALUES = {
    "int": [HUGE, JUST_OVER, "0", "-1"],
    "default": ["%00", "A" * 300, "%FF%FE", "..%2F..%2Fetc"],
    "path": ["x%00.css", "..%2F..%2Fsecret_key", "%FF"],
}


@dataclass
class Body:
    """One request body of the corpus."""

    name: str
    data: bytes | dict[str, str] | None = None
    content_type: str | None = None
    chunked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _json(name: str, value: Any) -> Body:
    return Body(name, json.dumps(value).encode(), "application/json")


def corpus_bodies() -> Iterator[Body]:
    """Every body sent to every POST route."""
    yield Body("deep list", b"[" * 1000 + b"]" * 1000, "application/json")
    yield Body("deep object", b'{"a":' * 1000 + b"1" + b"}" * 1000, "application/json")
    yield Body("deep but legal", b'{"a":' * 200 + b"1" + b"}" * 200, "application/json")
    for number, value in enumerate(HOSTILE_VALUES + WRONG_TYPES):
        yield _json(f"json value #{number}", dict.fromkeys(FIELDS, value))
    yield _json("unknown fields", {"unknown_field": "x", "__proto__": {"a": 1}})
    yield _json("a list, not an object", [1, 2, 3])
    yield _json("events of the wrong shape", {"events": [{"id": NUL, "kind": [], "at": HUGE}]})
    yield Body("invalid UTF-8 JSON", b'{"code": "\xff\xfe", "email": "\xc3"}', "application/json")
    yield Body("not JSON at all", b"\x00\x01\x02", "application/json")
    for number, value in enumerate([NUL, "\x7f", HUGE, JUST_OVER, "-1", "1e9", "A" * 5000]):
        yield Body(f"form value #{number}", dict.fromkeys(FIELDS, value))
    yield Body(
        "invalid UTF-8 form",
        b"email=%FF%FE&password=\xff&name=\xc3&site=\xff",
        "application/x-www-form-urlencoded",
    )
    yield Body("10 MB JSON", b'{"a": "' + b"x" * TEN_MB + b'"}', "application/json")
    yield Body("10 MB chunked", b"x" * TEN_MB, "application/json", chunked=True)


QUERIES = [
    "",
    f"?site={HUGE}&limit={HUGE}&since={HUGE}",
    f"?site={JUST_OVER}&limit=-5",
    "?site=-1&p=%00&lang=%00",
    "?site=%FF&lang=%FF%FE&p=" + "9" * 300,
    "?unknown=1&site=abc",
]


@dataclass
class Context:
    """The signed-in client, the device key and real values for path variables."""

    client: FlaskClient
    device_key: str
    real: dict[str, str]


@pytest.fixture
def context(app: Flask) -> Context:
    site = make_site("Hostile Park")
    dispenser = make_dispenser(site)
    client = app.test_client()
    key = enroll(client, dispenser)["device_key"]
    operator = make_operator()
    sign_in(client, operator)
    real = {
        "site_id": str(site.id),
        "operator_id": str(operator.id),
        "public_id": dispenser.public_id,
        "filename": "admin.css",
    }
    return Context(client, key, real)


def _url(rule: Rule, real: dict[str, str], hostile: tuple[str, str] | None = None) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        if hostile is not None and hostile[0] == name:
            return hostile[1]
        return real.get(name, "1")

    return re.sub(r"<(?:(\w+):)?(\w+)>", fill, rule.rule)


def _variables(rule: Rule) -> list[tuple[str, str]]:
    return [
        (m.group(2), m.group(1) or "default") for m in re.finditer(r"<(?:(\w+):)?(\w+)>", rule.rule)
    ]


def _rules(app: Flask) -> list[Rule]:
    # Signing out would end the session the admin pages are reached through: last.
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "admin.logout", r.rule))
    return rules


def _send(ctx: Context, method: str, url: str, body: Body | None) -> Any:
    headers = {**auth(ctx.device_key), "Accept": "text/html"}
    if url.startswith("/api/"):
        headers["Accept"] = "application/json"
    if body is None:
        return ctx.client.open(url, method=method, headers=headers)
    if isinstance(body.data, dict):
        form = dict(body.data)
        with ctx.client.session_transaction() as session:
            form["csrf_token"] = str(session.get("csrf", ""))
        return ctx.client.open(url, method=method, headers=headers, data=form)
    if body.chunked:
        return ctx.client.open(
            url,
            method=method,
            headers={
                **headers,
                "Content-Type": body.content_type or "",
                "Transfer-Encoding": "chunked",
            },
            input_stream=io.BytesIO(body.data or b""),
            # As gunicorn hands over a chunked body: no length, the server ends the stream.
            environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
        )
    return ctx.client.open(
        url, method=method, headers=headers, data=body.data, content_type=body.content_type
    )


def _problem(response: Any) -> str | None:
    """Why this answer is not acceptable, or None."""
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    if response.status_code < 400:
        return None
    text = response.get_data(as_text=True)
    if response.is_json:
        message = (response.get_json(silent=True) or {}).get("error", {}).get("message")
        return None if message else "JSON error without a message"
    return None if text.strip() else "empty error page"


def _requests(app: Flask, ctx: Context) -> Iterator[tuple[str, str, Body | None]]:
    for rule in _rules(app):
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for method in methods:
            for name, converter in _variables(rule):
                for value in PATH_VALUES.get(converter, PATH_VALUES["default"]):
                    yield method, _url(rule, ctx.real, (name, value)), None
            base = _url(rule, ctx.real)
            if method == "GET":
                for query in QUERIES:
                    yield method, base + query, None
            else:
                for body in corpus_bodies():
                    yield method, base + QUERIES[1], body


def test_no_hostile_input_gets_a_server_error_or_a_silent_answer(
    app: Flask, context: Context
) -> None:
    failures = []
    sent = 0
    for method, url, body in _requests(app, context):
        response = _send(context, method, url, body)
        sent += 1
        problem = _problem(response)
        if problem:
            failures.append(f"{method} {url[:80]} [{body.name if body else 'no body'}]: {problem}")
        response.close()
        # The admin form posts (checkboxes absent) switch the dispenser off; switch it back
        # on so the visitor pages keep reaching their deeper code.
        db.session.rollback()
        db.session.execute(update(Dispenser).values(enabled=True, status="ok"))
        db.session.commit()
    assert sent > 300
    assert not failures, "\n".join(failures[:40])


def test_the_sweep_reaches_the_admin_pages_signed_in(app: Flask, context: Context) -> None:
    # Guard against a sweep that silently only sees the sign-in page.
    assert context.client.get("/admin/sites").status_code == 200
    assert csrf_from(context.client, "/admin/sites")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_gets_413_chunked_or_not(
    app: Flask, context: Context, chunked: bool
) -> None:
    big = Body("big", b'{"code": "' + b"1" * TEN_MB + b'"}', "application/json", chunked=chunked)
    response = _send(context, "POST", "/api/v1/device/codes/verify", big)
    assert response.status_code == 413
    assert response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * 1000 + b"]" * 1000, "JSON"),
        (b'{"software_version": "1.0\\u0000", "status": "ok", "paper_level": 50}', "control"),
    ],
)
def test_deep_nesting_and_nul_in_a_heartbeat_get_400(
    app: Flask, context: Context, body: bytes, fragment: str
) -> None:
    response = _send(
        context, "POST", "/api/v1/device/heartbeat", Body("x", body, "application/json")
    )
    assert response.status_code == 400
    assert fragment.lower() in response.get_json()["error"]["message"].lower()


def test_ids_beyond_the_column_range_are_404_or_400(app: Flask, context: Context) -> None:
    client = context.client
    assert client.get(f"/sites/{HUGE}").status_code == 404
    assert client.get(f"/admin/sites/{JUST_OVER}").status_code == 404
    assert client.get(f"/admin/?site={JUST_OVER}").status_code == 404
    form = {"site": JUST_OVER, "count": "5", "valid_days": "30"}
    with client.session_transaction() as session:
        form["csrf_token"] = session["csrf"]
    for site in (JUST_OVER, HUGE, "-" + HUGE):
        form["site"] = site
        answer = client.post("/admin/vouchers", data=form, follow_redirects=True)
        assert answer.status_code == 200
        assert f"Site must be a whole number up to {MAX_DB_INT}" in answer.get_data(as_text=True)


def test_database_errors_never_carry_statement_parameters(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # What a traceback or an error log would print of a failed statement.
    typed = "someone typed their password here"
    with pytest.raises(DBAPIError) as failed:
        db.session.execute(text("INSERT INTO operator (email) VALUES (:email)"), {"email": typed})
    db.session.rollback()
    assert "hidden due to hide_parameters" in str(failed.value)
    # PostgreSQL's own message may still quote the row ("Failing row contains ..."):
    # what the app logs of a database error is its kind and SQLSTATE only.
    with caplog.at_level(logging.INFO):
        response = unexpected_database_error(failed.value)
    assert response.status_code == 500
    assert caplog.records and typed not in caplog.text
