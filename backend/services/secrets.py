"""Keyed hashes and random codes shared by several services."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def sha256_hex(data: bytes | str) -> str:
    """Hex SHA-256, for high-entropy secrets (device keys, enrollment codes)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def keyed_hash(key: bytes, *parts: str) -> str:
    """Hex HMAC-SHA256 of the parts, joined unambiguously."""
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def numeric_code(digits: int) -> str:
    """A uniformly random numeric code with leading zeros kept."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def grouped_code(chars: int = 12, group: int = 4) -> str:
    """A random base32 code shown in groups, e.g. ``ABCD-EFGH-JKLM`` (60 bits)."""
    text = base64.b32encode(secrets.token_bytes((chars * 5 + 7) // 8)).decode("ascii")[:chars]
    return "-".join(text[i : i + group] for i in range(0, chars, group))


def normalise_grouped_code(text: str) -> str:
    """Upper-case, strip dashes and spaces: how people type codes they read."""
    return "".join(ch for ch in text.upper() if ch not in "- \t")
