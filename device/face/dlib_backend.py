"""dlib implementations: HOG detector, 5-point alignment, ResNet embedding.

The model files come from the installed `face_recognition_models` package. It is
located with `importlib.util.find_spec`, never imported: its `__init__` needs
`pkg_resources`, which recent setuptools no longer ships. Only the 5-point shape
predictor and the ResNet embedding model are used (both public domain); the
68-point predictor in the same package forbids commercial use.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from device.face.protocols import RgbImage
from device.face.types import AlignedFace, Embedding, FaceBox

SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_FILES = (SHAPE_MODEL, EMBEDDING_MODEL)

# Same person <= 0.32, different people >= 0.61 on the faces measured here;
# dlib's authors use 0.6 on LFW. 0.5 leaves margin on both sides (docs/face.md).
DEFAULT_THRESHOLD = 0.5


class FaceModelMissing(RuntimeError):
    """The face extra (dlib-bin, face_recognition_models) is not installed."""


def model_dir() -> Path:
    """The folder holding face_recognition_models' weight files."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelMissing("the face_recognition_models package is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise FaceModelMissing(f"face model files missing: {', '.join(missing)}")
    return folder


def _dlib() -> Any:
    try:
        import dlib  # optional: only when face mode is used
    except ImportError as error:
        raise FaceModelMissing("the dlib-bin package is not installed") from error
    return dlib


class DlibHogDetector:
    """dlib's HOG + linear SVM frontal face detector (~40 ms at 640x480 here).

    `upsample` doubles the image that many times first, to find faces smaller
    than its 80x80-pixel window (slower by ~4x per step).
    """

    def __init__(self, upsample: int = 0, min_score: float = 0.0) -> None:
        self._detector = _dlib().get_frontal_face_detector()
        self.upsample = upsample
        self.min_score = min_score

    def detect(self, image: RgbImage) -> list[FaceBox]:
        """Every face in `image`."""
        rects, scores, _ = self._detector.run(image, self.upsample, self.min_score)
        height, width = image.shape[:2]
        return [
            FaceBox(
                max(r.left(), 0),
                max(r.top(), 0),
                min(r.right(), width),
                min(r.bottom(), height),
                float(score),
            )
            for r, score in zip(rects, scores, strict=True)
        ]


class DlibResNetEmbedder:
    """dlib's 5-point alignment and 128-d ResNet embedding (~170 ms per face here)."""

    dimension = 128
    chip_size = 150  # the embedding network's input size

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        dlib = _dlib()
        folder = model_dir()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(folder / SHAPE_MODEL))
        self._net = dlib.face_recognition_model_v1(str(folder / EMBEDDING_MODEL))
        self.threshold = threshold

    def align(self, image: RgbImage, box: FaceBox) -> AlignedFace:
        """The face in `box`, cut out, upright and scaled, with its landmarks."""
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        shape = self._shape(image, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        chip = self._dlib.get_face_chip(image, shape, size=self.chip_size, padding=0.25)
        return AlignedFace(np.ascontiguousarray(chip, dtype=np.uint8), points, box)

    def embed(self, face: AlignedFace) -> Embedding:
        """The face's 128-d embedding."""
        vector = self._net.compute_face_descriptor(face.chip)
        return np.asarray(vector, dtype=np.float32)
