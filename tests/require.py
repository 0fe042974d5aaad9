"""Skips that CI does not allow: a missing required part fails the run instead.

A test needing a part that may be absent on a laptop (PostgreSQL, Redis, Chromium,
axe-core) calls ``unavailable(PART, why)``. It skips, saying why, unless the environment
sets ``FAIRROLL_REQUIRE_<PART>=1`` (``.ci/run`` sets all four), when it fails instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

PARTS = ("POSTGRES", "REDIS", "CHROMIUM", "AXE")


def required(part: str) -> bool:
    """True when the environment demands ``part`` (FAIRROLL_REQUIRE_<PART>=1)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; known: {', '.join(PARTS)}")
    return os.environ.get(f"FAIRROLL_REQUIRE_{part}") == "1"


def unavailable(part: str, why: str) -> NoReturn:
    """Skip the test for lack of ``part``, or fail it where that part is required."""
    if required(part):
        pytest.fail(f"{why} (FAIRROLL_REQUIRE_{part}=1)", pytrace=False)
    pytest.skip(why)
