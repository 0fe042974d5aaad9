"""The production Argon2 parameters, checked once where the test suite's cheap ones are not set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from argon2 import extract_parameters, profiles

from backend.services import operators

ROOT = Path(__file__).parents[2]


def test_production_hashes_use_rfc_9106_low_memory_parameters() -> None:
    assert operators.PASSWORD_PARAMETERS == profiles.RFC_9106_LOW_MEMORY
    # A fresh process, as a server runs: nothing has swapped the hasher there.
    script = "from backend.services.operators import hash_password; print(hash_password('x' * 12))"
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    stored = done.stdout.strip()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY


def test_the_test_suite_hashes_cheaply_with_the_same_algorithm() -> None:
    stored = operators.hash_password("x" * 12)
    parameters = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert (parameters.time_cost, parameters.memory_cost) == (1, 8)
