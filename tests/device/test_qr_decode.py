"""QR decoding of real tokens shown on phone screens inside generated camera frames."""

from __future__ import annotations

import numpy as np
import segno

from device.decide import Dispense, QrScan, Situation, decide
from device.qr import Trace, decode_all, decode_frame
from device.qr_regions import code_regions
from device.synthetic import CONDITION_SETS, camera_frame, qr_image, qr_matrix
from tests.device.helpers import make_token, remote_config

FRAMES = 100  # the per-condition regression set is test_qr_regression.py


def test_decode_rate_on_realistic_phone_frames_is_at_least_95_percent(
    signing_key, dispenser_id, now
) -> None:
    rng = np.random.default_rng(20261122)
    decoded = 0
    for _ in range(FRAMES):
        token = make_token(signing_key, dispenser_id, now)
        frame = camera_frame(token, rng)
        assert frame.shape == (480, 640, 3)
        decoded += decode_frame(frame) == token
    rate = decoded / FRAMES
    assert rate >= 0.95, f"decoded {rate:.1%} of {FRAMES} frames"


def test_decoded_frame_leads_to_a_dispense(signing_key, dispenser_id, now) -> None:
    rng = np.random.default_rng(1)
    token = make_token(signing_key, dispenser_id, now)
    payload = decode_frame(camera_frame(token, rng))
    assert payload is not None
    situation = Situation(remote=remote_config(dispenser_id, [signing_key]), spent=set(), now=now)
    assert isinstance(decide(QrScan(payload), situation), Dispense)


def test_empty_scene_decodes_nothing() -> None:
    rng = np.random.default_rng(2)
    assert decode_all(camera_frame(None, rng)) == []


def test_synthetic_codes_are_full_qr_not_micro_qr() -> None:
    # A short payload would become Micro QR with segno.make(); the camera path needs full QR.
    matrix = qr_matrix("HI")
    assert matrix.shape[0] >= 21 + 8


def test_micro_qr_is_not_read() -> None:
    # The phone page shows only full QR; a Micro QR read would hide the real code.
    micro = segno.make_micro("17")
    image = np.array([list(r) for r in micro.matrix_iter(scale=6, border=4)], dtype=np.uint8)
    gray = np.where(image == 1, 0, 255).astype(np.uint8)
    assert decode_all(gray) == []
    full = qr_image("17", module_px=6)
    assert decode_all(full) == ["17"]


def test_named_condition_sets_draw_codes_at_the_asked_size() -> None:
    rng = np.random.default_rng(4)
    for name, (conditions, has_code) in CONDITION_SETS.items():
        frame = camera_frame("HELLO" if has_code else None, rng, conditions=conditions)
        assert frame.shape == (480, 640, 3), name


def test_code_regions_find_a_small_code_and_nothing_on_a_blank_wall() -> None:
    frame = np.full((480, 640), 150, np.uint8)
    code = qr_image("0123456789" * 9 + "012345678", module_px=3)  # 29 modules + quiet zone
    frame[100 : 100 + code.shape[0], 200 : 200 + code.shape[1]] = code
    (region, *_) = code_regions(frame)
    assert 200 <= region.x + region.width / 2 <= 200 + code.shape[1]
    assert 100 <= region.y + region.height / 2 <= 100 + code.shape[0]
    assert code_regions(np.full((480, 640), 150, np.uint8)) == []


def test_trace_names_the_stage_that_won() -> None:
    trace = Trace()
    payloads = decode_all(qr_image("HELLO", module_px=6), trace=trace)
    assert payloads == ["HELLO"] and trace.winner == "fast"
    empty = Trace()
    assert decode_all(np.full((480, 640), 150, np.uint8), trace=empty) == []
    assert empty.winner is None and [name for name, _ in empty.stages] == ["fast", "regions"]
