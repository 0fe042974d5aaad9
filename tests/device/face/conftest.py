"""Shared fixtures: the real dlib pipeline and package-shipped face photos."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device.face import default_parts
from device.face.pipeline import FaceParts
from tests import face_photos

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def still_parts() -> FaceParts:
    """dlib detector and embedder, no liveness check (one still per visit)."""
    missing = face_photos.available()
    assert missing is None, missing
    return default_parts(still_images=True)


@pytest.fixture(scope="session")
def live_parts() -> FaceParts:
    """dlib detector and embedder with the parallax liveness check."""
    return default_parts()
