"""A landmark-level model of a head and of a printed photo, for the liveness check.

The five landmarks of dlib's 5-point model on an average adult face, in
centimetres, seen by a 640x480 camera 50 cm away, with one pixel of detector
noise. A live head turns in 3-D; a print is the same face flattened to a plane.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from device.face.types import AlignedFace, FaceBox

Matrix = npt.NDArray[np.float64]

# x right, y down, z towards the camera: corners of each eye, then the nose base.
FACE_3D = np.array(
    [[-4.5, 0.0, -1.5], [-1.6, 0.0, 0.0], [4.5, 0.0, -1.5], [1.6, 0.0, 0.0], [0.0, 4.5, 2.0]]
)
FLAT_3D = FACE_3D * np.array([1.0, 1.0, 0.0])
_BOX = FaceBox(0, 0, 160, 160)


def rotation(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> Matrix:
    """The rotation turning a head by yaw, pitch and roll (degrees)."""
    cy, sy = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
    cp, sp = np.cos(np.radians(pitch)), np.sin(np.radians(pitch))
    cr, sr = np.cos(np.radians(roll)), np.sin(np.radians(roll))
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    about_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    result: Matrix = about_z @ about_x @ about_y
    return result


def seen(
    points_3d: Matrix, turn: Matrix, rng: np.random.Generator, noise: float = 1.0
) -> AlignedFace:
    """The landmarks the camera reports for `points_3d` turned by `turn`."""
    moved = points_3d @ turn.T + np.array([0.0, 0.0, -50.0])
    pixels = 600.0 * moved[:, :2] / -moved[:, 2:3] + np.array([320.0, 240.0])
    pixels += rng.normal(0, noise, pixels.shape)
    return AlignedFace(np.zeros((150, 150, 3), np.uint8), pixels, _BOX)


def wobble(rng: np.random.Generator, max_tilt: float = 20.0) -> Matrix:
    """A print held by hand: tilted up to `max_tilt` degrees about one axis, rolled up to 10."""
    axis = rng.uniform(0, 180)
    to_axis = rotation(0, 0, axis)
    tilt = rotation(rng.uniform(-max_tilt, max_tilt))
    result: Matrix = rotation(0, 0, rng.uniform(-10, 10)) @ to_axis @ tilt @ to_axis.T
    return result


def live_burst(rng: np.random.Generator, degrees: float, frames: int = 8) -> list[AlignedFace]:
    """A head turning from -degrees to +degrees, with a little nodding."""
    return [
        seen(FACE_3D, rotation(yaw, rng.uniform(-3, 3)), rng)
        for yaw in np.linspace(-degrees, degrees, frames)
    ]


def print_burst(
    rng: np.random.Generator, max_tilt: float = 20.0, frames: int = 8
) -> list[AlignedFace]:
    """A flat print wobbled by hand."""
    return [seen(FLAT_3D, wobble(rng, max_tilt), rng) for _ in range(frames)]
