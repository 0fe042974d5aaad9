"""The values the face pipeline passes around: boxes, aligned faces, verdicts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

# A camera frame as OpenCV gives it: height x width x 3, uint8, BGR order.
Frame = npt.NDArray[np.uint8]
# A face embedding: a 1-D float32 vector (128 values for dlib's ResNet model).
Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FaceBox:
    """A face found in a frame: pixel rectangle and detector confidence."""

    left: int
    top: int
    right: int
    bottom: int
    score: float = 0.0

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.bottom - self.top

    @property
    def area(self) -> int:
        """Area in square pixels."""
        return max(self.width, 0) * max(self.height, 0)


@dataclass(frozen=True, repr=False)
class AlignedFace:
    """A face cut out, rotated upright and scaled, with its five landmarks.

    `chip` is the aligned RGB face (what the embedder reads); `points` are the
    five landmarks in frame pixels (two corners of each eye, base of the nose).
    `repr` is disabled so that face pixels never end up in a log line or a
    traceback by accident.
    """

    chip: npt.NDArray[np.uint8]
    points: npt.NDArray[np.float64]
    box: FaceBox

    def erase(self) -> None:
        """Overwrite the face pixels in place (best effort: see docs/face.md)."""
        if self.chip.flags.writeable:
            self.chip.fill(0)
        if self.points.flags.writeable:
            self.points.fill(0.0)


class Outcome(enum.Enum):
    """What the dispenser does after a face scan."""

    DISPENSE = "dispense"
    REFUSE = "refuse"
    NO_FACE = "no_face"


class Reason(enum.Enum):
    """Why a face scan ended as it did; stable words for programs."""

    NEW_FACE = "new_face"
    SEEN_IN_WINDOW = "seen_in_window"
    NO_FRAMES = "no_frames"
    NO_FACE = "no_face"
    TOO_DARK = "too_dark"
    TOO_FAR = "too_far"
    SEVERAL_FACES = "several_faces"
    NOT_LIVE = "not_live"
    UNAVAILABLE = "face_unavailable"


@dataclass(frozen=True)
class FaceVerdict:
    """The result of one face scan: the only type that goes from the checker to `decide`.

    `outcome` is DISPENSE (a new face, now held until `now + window`), REFUSE (the
    same face was served in this window; `available_at` says when it may have paper
    again) or NO_FACE (nothing was decided; `reason` and the messages say why).
    `entry_id` names the store entry involved (an opaque number, so a failed
    dispense can be undone). Nothing in here is derived from the face beyond the
    outcome itself.
    """

    outcome: Outcome
    reason: Reason
    message_en: str
    message_zh: str
    available_at: datetime | None = None
    entry_id: int | None = None
