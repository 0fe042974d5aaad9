"""The decode rate on a fixed generated set must not regress (rates only: timings are
measured by bench/device_decode.py, never asserted here).

The frames are fixed: key, dispenser, token ids and generator seeds, and no time budget,
so the same decoder always decodes the same frames. Each floor is the count the current
decoder reaches less a frame or two of slack. The "tiny" set (the token's 29-module code
at 65-100 px, 2.2-3.4 px a module) is where the recovery cascade earns its place: the
fast read alone decodes 19 of its 30 frames, the cascade 26.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.qr import decode_all, to_gray
from device.synthetic import EMPTY, ORDINARY, SMALL, Conditions, camera_frame
from protocol.token import TokenClaims, key_id_for, sign_token

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
DISPENSER = bytes.fromhex("0a1b2c3d4e5f")
ISSUED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TINY = replace(SMALL, code_px=(65, 100))
# name -> (conditions, seed, frames, least number that must decode to their token)
SETS: dict[str, tuple[Conditions, int, int, int]] = {
    "ordinary": (ORDINARY, 1400, 20, 20),
    "small": (SMALL, 1401, 30, 27),
    "tiny": (TINY, 1450, 30, 24),
}


def _token(rng: np.random.Generator) -> str:
    claims = TokenClaims(
        key_id=key_id_for(KEY.public_key()),
        token_id=rng.bytes(12),
        dispenser_id=DISPENSER,
        issued_at=ISSUED,
        expires_at=ISSUED + timedelta(seconds=120),
    )
    return sign_token(claims, KEY)


def _decode(frame: np.ndarray) -> list[str]:
    return decode_all(to_gray(frame), budget_ms=math.inf)


def test_decode_rate_per_condition_set_does_not_regress() -> None:
    results = {}
    for name, (conditions, seed, frames, _) in SETS.items():
        rng = np.random.default_rng(seed)
        decoded = wrong = 0
        for _ in range(frames):
            token = _token(rng)
            payloads = _decode(camera_frame(token, rng, conditions=conditions))
            decoded += token in payloads
            wrong += sum(payload != token for payload in payloads)
        results[name] = (decoded, wrong)
    assert all(wrong == 0 for _, wrong in results.values()), results
    for name, (_, _, frames, floor) in SETS.items():
        assert results[name][0] >= floor, f"{name}: {results[name][0]}/{frames}, floor {floor}"


def test_busy_scenes_without_a_code_read_nothing() -> None:
    rng = np.random.default_rng(1499)
    for _ in range(20):
        assert _decode(camera_frame(None, rng, conditions=EMPTY)) == []
