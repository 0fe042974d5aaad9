"""From a burst of camera frames to a decision: dispense, refuse, or no usable face."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from device.face import messages
from device.face.protocols import FaceDetector, FaceEmbedder, LivenessCheck, RgbImage
from device.face.store import EmbeddingStore
from device.face.types import AlignedFace, FaceBox, FaceVerdict, Frame, Outcome, Reason

# Frames may come from any iterable (a list, a generator) or from a callable such
# as `camera.read`; either may yield None when the camera has no frame yet.
FrameSource = Iterable[Frame | None] | Callable[[], Frame | None]
NO_FRAME_PAUSE = 0.005  # seconds between asking a camera that had no frame
LIVE_EVIDENCE_FRAMES = 2  # frames with a face that did not turn: a photo, not "no face"


class FrameError(ValueError):
    """A frame is not an image as OpenCV gives it (height x width x 3, uint8)."""


@dataclass(frozen=True)
class BurstLimits:
    """How much the camera may capture for one visit, and what counts as usable.

    `min_face_px`: the smallest face width accepted: a tenth of a 640-pixel frame
    (about 1.2 m from the camera with a normal lens; HOG finds faces from ~70 px).
    `dark_level`: mean grey level below which a frame without a face is reported
    as too dark; `dark_face_level`: the same for the face itself (set low, so that
    dark skin in dim light is not turned away).
    `several_ratio`: a second face at least this fraction of the largest one's
    area makes the frame ambiguous.
    """

    max_frames: int = 60
    max_seconds: float = 2.0
    min_face_px: int = 64
    dark_level: float = 45.0
    dark_face_level: float = 25.0
    several_ratio: float = 0.5


DEFAULT_LIMITS = BurstLimits()


@dataclass(frozen=True)
class FaceParts:
    """The exchangeable parts the pipeline runs on."""

    detector: FaceDetector
    embedder: FaceEmbedder
    liveness: LivenessCheck


def decide_face(
    frames: FrameSource,
    store: EmbeddingStore,
    parts: FaceParts,
    window_seconds: int,
    now: datetime,
    limits: BurstLimits = DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
) -> FaceVerdict:
    """Scan one visitor's burst, compare with the window's faces and decide.

    On a dispense the new face is held in `store` until `now + window_seconds`.
    Frames and face cut-outs are released (cut-outs overwritten) before returning.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    faces, failures, last_empty = _collect(frames, parts, limits, clock)
    try:
        if not parts.liveness.is_live(faces):
            reason = _why_unusable(faces, failures)
            if reason is Reason.NO_FACE and last_empty is not None:
                reason = _look_closer(last_empty, parts.detector)
            return _no_face(reason)
        best = max(faces, key=lambda face: face.box.area)
        embedding = parts.embedder.embed(best)
    finally:
        for face in faces:
            face.erase()
        faces.clear()
        if last_empty is not None:
            _wipe(last_empty)
    try:
        return _compare(embedding, store, parts.embedder.threshold, window_seconds, now)
    finally:
        embedding.fill(0.0)


def _collect(
    frames: FrameSource, parts: FaceParts, limits: BurstLimits, clock: Callable[[], float]
) -> tuple[list[AlignedFace], Counter[Reason], RgbImage | None]:
    """Read the bounded burst; keep the visitor's aligned face from each usable frame.

    Also returns the last frame in which nothing was found (to tell "too far"
    from "no face" afterwards). Every other frame is overwritten with zeros as
    soon as it has been processed: the RGB copy always, and the camera's frame
    too when frames come from a callable such as `camera.read` (nobody else
    holds those; frames passed in a list belong to the caller and are left).
    """
    faces: list[AlignedFace] = []
    failures: Counter[Reason] = Counter()
    last_empty: RgbImage | None = None
    owned = callable(frames)
    try:
        for frame in _bounded(frames, limits, clock):
            if frame is None:
                continue
            rgb = _to_rgb(frame)
            if owned:
                _wipe(frame)
            box, failure = _visitor_face(parts.detector.detect(rgb), rgb, limits)
            if box is None:
                failures[failure] += 1
            else:
                faces.append(parts.embedder.align(rgb, box))
            if failure is Reason.NO_FACE:
                if last_empty is not None:
                    _wipe(last_empty)
                last_empty = rgb
            else:
                _wipe(rgb)
            if parts.liveness.is_live(faces):
                break
    except BaseException:
        # A bad frame or a camera error mid-burst: leave no face data behind.
        for face in faces:
            face.erase()
        if last_empty is not None:
            _wipe(last_empty)
        raise
    return faces, failures, last_empty


def _wipe(image: Frame) -> None:
    if image.flags.writeable:
        image.fill(0)


def _look_closer(rgb: RgbImage, detector: FaceDetector) -> Reason:
    """TOO_FAR if a face too small for the detector appears at twice the size."""
    larger = cv2.resize(rgb, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)
    found = bool(detector.detect(np.ascontiguousarray(larger, dtype=np.uint8)))
    larger.fill(0)
    return Reason.TOO_FAR if found else Reason.NO_FACE


def _bounded(
    frames: FrameSource, limits: BurstLimits, clock: Callable[[], float]
) -> Iterator[Frame | None]:
    """At most `max_frames` frames, and none after `max_seconds`.

    A burst already captured (a sequence) is visited coarse to fine: first and
    last frame, then the middle, then the quarters... A head turn spans the burst,
    so the liveness check is usually satisfied after four or five frames instead
    of after most of them.
    """
    source: Iterable[Frame | None]
    if callable(frames):
        source = _poll(frames)
    elif isinstance(frames, Sequence):
        source = (frames[i] for i in spread_order(len(frames)))
    else:
        source = frames
    deadline = clock() + limits.max_seconds
    frames_left = iter(source)
    for _ in range(limits.max_frames):
        # Check the bounds before reading: a frame past them is never taken from the camera.
        if clock() > deadline:
            return
        try:
            frame = next(frames_left)
        except StopIteration:
            return
        yield frame


def spread_order(count: int) -> list[int]:
    """0..count-1 ordered so that every prefix spreads over the whole range."""
    if count <= 2:
        return list(range(count))
    order, spans = [0, count - 1], deque([(0, count - 1)])
    while spans:
        low, high = spans.popleft()
        middle = (low + high) // 2
        if low < middle < high:
            order.append(middle)
            spans.extend(((low, middle), (middle, high)))
    return order


def _poll(read: Callable[[], Frame | None]) -> Iterator[Frame | None]:
    while True:
        frame = read()
        if frame is None:
            time.sleep(NO_FRAME_PAUSE)  # no frame yet: ask again soon, not in a busy loop
        yield frame


def _to_rgb(frame: Frame) -> RgbImage:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise FrameError("a frame must be a numpy uint8 array")
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
        raise FrameError(f"a frame must be height x width x 3 (BGR), got shape {frame.shape}")
    return np.ascontiguousarray(frame[:, :, ::-1])


def _visitor_face(
    boxes: list[FaceBox], rgb: RgbImage, limits: BurstLimits
) -> tuple[FaceBox | None, Reason]:
    """The largest face of a usable size, or why there is none."""
    if not boxes:
        dark = float(rgb.mean()) < limits.dark_level
        return None, Reason.TOO_DARK if dark else Reason.NO_FACE
    usable = sorted(
        (box for box in boxes if box.width >= limits.min_face_px),
        key=lambda box: box.area,
        reverse=True,
    )
    if not usable:
        return None, Reason.TOO_FAR
    if len(usable) > 1 and usable[1].area >= limits.several_ratio * usable[0].area:
        return None, Reason.SEVERAL_FACES
    face = usable[0]
    # HOG still finds faces in very dim frames, but their embeddings are unreliable.
    if float(rgb[face.top : face.bottom, face.left : face.right].mean()) < limits.dark_face_level:
        return None, Reason.TOO_DARK
    return face, Reason.NEW_FACE


def _why_unusable(faces: list[AlignedFace], failures: Counter[Reason]) -> Reason:
    """NOT_LIVE when a face was seen in several frames but did not turn; else the most
    frequent problem.

    A photo held up (or uploaded to a simulated camera) shows a face that never turns;
    frames without it (the photo lowered, the scene over) must not hide that.
    """
    if len(faces) >= LIVE_EVIDENCE_FRAMES or (faces and sum(failures.values()) <= len(faces)):
        return Reason.NOT_LIVE
    if failures:
        return failures.most_common(1)[0][0]
    return Reason.NO_FRAMES


def _no_face(reason: Reason) -> FaceVerdict:
    return messages.unusable(reason)


def _compare(
    embedding: np.ndarray,
    store: EmbeddingStore,
    threshold: float,
    window_seconds: int,
    now: datetime,
) -> FaceVerdict:
    match = store.nearest(embedding, now)
    if match is not None and match.distance < threshold:
        english, chinese = messages.refusal_message(match.expires_at, now)
        return FaceVerdict(
            Outcome.REFUSE,
            Reason.SEEN_IN_WINDOW,
            english,
            chinese,
            match.expires_at,
            match.entry_id,
        )
    entry_id = store.add(embedding, now + timedelta(seconds=window_seconds), now)
    english, chinese = messages.message(Reason.NEW_FACE)
    return FaceVerdict(Outcome.DISPENSE, Reason.NEW_FACE, english, chinese, entry_id=entry_id)
