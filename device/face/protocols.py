"""The interfaces of the face pipeline's exchangeable parts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from device.face.types import AlignedFace, Embedding, FaceBox

# An RGB image, height x width x 3, uint8 (the pipeline converts from BGR once).
RgbImage = npt.NDArray[np.uint8]


class FaceDetector(Protocol):
    """Finds faces in an image.

    `detect` returns every face found, in any order, as boxes in the pixel
    coordinates of `image`. It must not keep a reference to `image` after it
    returns, nor write it anywhere.
    """

    def detect(self, image: RgbImage) -> list[FaceBox]:
        """Every face in `image`."""
        ...


class FaceEmbedder(Protocol):
    """Turns a face into a vector; vectors of the same person lie close together.

    `align` finds the landmarks of the face in `box` and returns it cut out and
    upright; `embed` maps an aligned face to a unit-scale vector of `dimension`
    floats whose Euclidean distance is compared against `threshold`. Neither may
    keep a reference to its inputs or write them anywhere.
    """

    dimension: int
    threshold: float

    def align(self, image: RgbImage, box: FaceBox) -> AlignedFace:
        """The face in `box`, cut out, upright and scaled, with its landmarks."""
        ...

    def embed(self, face: AlignedFace) -> Embedding:
        """The face's embedding."""
        ...


class LivenessCheck(Protocol):
    """Decides whether a burst of aligned faces shows a live person.

    `is_live` receives the aligned faces of one visitor from consecutive frames
    (at least one). It returns False for bursts that look like a still picture.
    """

    def is_live(self, faces: Sequence[AlignedFace]) -> bool:
        """True if the burst shows the natural variation of a live face."""
        ...
