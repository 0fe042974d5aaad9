"""Schema fuzzing: schemathesis drives every operation of the served /api/v1/openapi.json,
on SQLite and PostgreSQL, with valid (positive) and invalid (negative) data.

Each answer is checked for server errors, a documented status, a body matching the
documented schema and content type, and documented headers. The device key is a real
enrolled key; half the token requests name a real dispenser. Bounded for CI: a fixed
number of examples per operation and mode, derandomized (the same requests every run).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.extensions import db
from tests.factories import enroll, make_dispenser, make_site

EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]


def _fuzz(
    label: str,
    strategies: list[Any],
    key: str,
    sent: dict[str, int],
    statuses: dict[int, int],
) -> None:
    """Send EXAMPLES cases drawn from ``strategies``; validate every answer."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {key}"})
        sent[label] = sent.get(label, 0) + 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)
        db.session.rollback()

    run()


def test_the_api_holds_to_its_openapi_document_under_fuzzing(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    dispenser = make_dispenser(make_site("Fuzzed Park", min_interval_seconds=0))
    key = enroll(app.test_client(), dispenser)["device_key"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    sent: dict[str, int] = {}
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert len(labels) >= 6, labels

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [operation.as_strategy(generation_mode=mode)]
            if "{public_id}" in operation.path:
                real = {"public_id": dispenser.public_id}
                strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))

            _fuzz(operation.label, strategies, key, sent, statuses)

    total = sum(sent.values())
    with capsys.disabled():
        print(
            f"\nschemathesis [{db.engine.dialect.name}]: {total} requests to {sorted(labels)}, "
            f"statuses {dict(sorted(statuses.items()))}"
        )
    assert total >= len(operations) * EXAMPLES
