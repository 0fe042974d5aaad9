"""Fixtures for the device tests: no camera or GPIO hardware is needed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.device.helpers import new_dispenser


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    """A token signing key made for this test."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
def dispenser_id() -> str:
    """A fresh dispenser public id."""
    return new_dispenser()


@pytest.fixture
def now() -> datetime:
    """A fixed moment."""
    return datetime(2026, 11, 22, 5, 0, 0, tzinfo=UTC)
