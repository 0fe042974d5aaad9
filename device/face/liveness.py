"""A basic check that a burst shows a live, turning head rather than a flat picture.

The cue is parallax. The base of the nose stands about 2 cm in front of the eye
corners, so when a real head turns a little, the nose moves sideways relative to
the eyes by roughly 0.4 x sin(turn) inter-eye distances. A flat picture cannot do
that: moving, rotating or tilting a print changes where the face is, its size and
its in-plane angle, all of which the measure below divides out; tilting the print
diagonally produces only a small shear (a few hundredths), and a photo that is
not moved at all produces none. The kiosk asks the visitor to "turn your head
slightly" during the burst. Limits (docs/face.md): a print bent around a vertical
axis, a video replayed on a screen or a mask can show the same cue; this stops
the casual cheat of holding up a photo, not a determined attacker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from device.face.types import AlignedFace

# Landmark order of the 5-point model: two corners of one eye, two of the other,
# base of the nose.
_EYE_A = (0, 1)
_EYE_B = (2, 3)
_NOSE = 4


def nose_offset(points: npt.NDArray[np.float64]) -> float:
    """Sideways nose position relative to the eyes, in inter-eye distances.

    Measured along the line through the two eye centres, from their midpoint,
    so the face's position, size and in-plane angle do not change it.
    """
    eye_a = points[list(_EYE_A)].mean(axis=0)
    eye_b = points[list(_EYE_B)].mean(axis=0)
    axis = eye_b - eye_a
    distance = float(np.hypot(axis[0], axis[1]))
    if distance == 0.0:
        return 0.0
    middle = (eye_a + eye_b) / 2.0
    return float(np.dot(points[_NOSE] - middle, axis) / distance**2)


class ParallaxLiveness:
    """Accepts a burst whose nose moves sideways relative to the eyes by `min_turn`.

    `min_turn` 0.09 is reached by a head turning about 8 degrees each way; a print
    tilted by hand up to 20 degrees stays below it in about 95 % of bursts
    (bench/face_accuracy.py measures both; docs/face.md states the limits).
    The spread is taken between the 10th and 90th percentiles, so one badly placed
    landmark cannot pass a burst on its own.
    """

    def __init__(self, min_turn: float = 0.09, min_frames: int = 3) -> None:
        self.min_turn = min_turn
        self.min_frames = min_frames

    def turn(self, faces: Sequence[AlignedFace]) -> float:
        """How far the head turned across the burst (0.0 for a flat, still picture)."""
        if len(faces) < 2:
            return 0.0
        offsets = np.array([nose_offset(face.points) for face in faces])
        low, high = np.percentile(offsets, [10, 90])
        return float(high - low)

    def is_live(self, faces: Sequence[AlignedFace]) -> bool:
        """True if the burst has enough frames and the head turned enough."""
        return len(faces) >= self.min_frames and self.turn(faces) >= self.min_turn


class StillImageLiveness:
    """No liveness check: for the technician's still-image tool only.

    A single still cannot show movement; `face-check` states in its output that
    the liveness check did not apply. The dispenser itself never uses this class.
    """

    def is_live(self, faces: Sequence[AlignedFace]) -> bool:
        """True whenever at least one face was seen."""
        return len(faces) >= 1
