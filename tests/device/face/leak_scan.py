"""Searching a file for face data: image bytes, face pixels, and given embeddings.

Embeddings are compared as float vectors, whatever their form in the file: float32 or
float64 binary at every byte alignment, decimal text (JSON lists, log lines, reprs),
and hex or base64 runs decoded back to binary. A hit is four consecutive values equal
to four consecutive components of one embedding (within the precision of the form).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n", b"GIF8", b"P6\n")
RUN = 4
_DECIMAL = re.compile(rb"-?\d*\.\d+(?:[eE][-+]?\d+)?")
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2}){16,}")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]{22,}={0,2}")


def face_data_in(
    data: bytes, image_patterns: Sequence[bytes], vectors: Sequence[Vector]
) -> list[str]:
    """What face data ``data`` holds (empty when none)."""
    found = []
    if data.startswith(IMAGE_MAGIC) or b"JFIF" in data or b"\x89PNG\r\n" in data:
        found.append("an image")
    if any(pattern in data for pattern in image_patterns):
        found.append("face pixels or image bytes")
    if vectors and holds_embedding(data, vectors):
        found.append("an embedding")
    return found


def holds_embedding(data: bytes, vectors: Sequence[Vector]) -> bool:
    """True if any form of ``data`` carries a run of one of ``vectors``' components."""
    return any(_has_run(values, vectors, atol) for values, atol in _readings(data))


def _readings(data: bytes) -> Iterator[tuple[npt.NDArray[np.float64], float]]:
    for blob in (data, *_decoded_runs(data)):
        for dtype, size, atol in (("<f4", 4, 1e-6), ("<f8", 8, 1e-9)):
            for offset in range(size):
                usable = (len(blob) - offset) // size * size
                if usable >= size * RUN:
                    raw = np.frombuffer(blob[offset : offset + usable], dtype=dtype)
                    with np.errstate(invalid="ignore", over="ignore"):
                        yield raw.astype(np.float64), atol
    numbers = [float(m) for m in _DECIMAL.findall(data) if len(m) <= 40]
    if len(numbers) >= RUN:
        yield np.array(numbers, dtype=np.float64), 1e-4


def _decoded_runs(data: bytes) -> Iterator[bytes]:
    for match in _HEX.findall(data):
        yield bytes.fromhex(match.decode())
    for match in _BASE64.findall(data):
        try:
            yield base64.b64decode(match + b"=" * (-len(match) % 4))
        except (binascii.Error, ValueError):
            continue


def _has_run(values: npt.NDArray[np.float64], vectors: Sequence[Vector], atol: float) -> bool:
    with np.errstate(invalid="ignore", over="ignore"):
        values = np.where(np.isfinite(values) & (np.abs(values) > 1e-3), values, np.nan)
    components = np.sort(np.concatenate([np.asarray(v, np.float64) for v in vectors]))
    at = np.clip(np.searchsorted(components, values), 1, len(components) - 1)
    nearest = np.minimum(np.abs(values - components[at - 1]), np.abs(values - components[at]))
    near = nearest <= atol  # NaN compares False
    if len(near) < RUN:
        return False
    runs = near[: len(near) - RUN + 1].copy()
    for k in range(1, RUN):
        runs &= near[k : len(near) - RUN + 1 + k]
    for start in np.flatnonzero(runs):
        window = values[start : start + RUN]
        for vector in vectors:
            v = np.asarray(vector, np.float64)
            for j in range(len(v) - RUN + 1):
                if np.allclose(v[j : j + RUN], window, atol=atol, rtol=0):
                    return True
    return False


def files_under(*roots: Path) -> list[Path]:
    """Every regular file under ``roots``."""
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())
