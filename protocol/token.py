"""The access token: a compact, dispenser-bound, single-use ticket for one portion.

Binary layout (big-endian), then a 128-bit MAC over those bytes::

    offset size field
    0      1    key hint (first byte of the backend key id that made the MAC key)
    1      12   token id (96 random bits)
    13     6    dispenser id (raw bytes of the dispenser's public id)
    19     4    issued-at, Unix seconds
    23     2    life in seconds (expires-at = issued-at + life)
    25     16   HMAC-SHA256 over bytes 0..24, truncated to 128 bits

41 bytes in all, written as one 99-digit decimal number (zero-padded). The MAC key is
the dispenser's own: HKDF-SHA256 of the backend's current signing key, with the
dispenser id as context. The backend mints; each dispenser receives only its own MAC
keys (current and previous) in its configuration and verifies offline. Digits use the
QR code's numeric mode (10 bits per 3 digits), so the symbol is version 3 (29 modules)
at error correction M instead of version 6 (41 modules) for the earlier signed base32
token: modules 41 % larger at the same printed size. docs/tokens.md has the figures
and the security argument.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from protocol.ids import DISPENSER_ID_BYTES

TOKEN_VERSION = 2  # known by its form: 99 digits (version 1 was 152 base32 characters)
KEY_ID_BYTES = 4
TOKEN_ID_BYTES = 12
MAC_BYTES = 16
MAC_ALGORITHM = "HMAC-SHA256-128"
_HEADER = struct.Struct(f">B{TOKEN_ID_BYTES}s{DISPENSER_ID_BYTES}sIH")
TOKEN_BYTES = _HEADER.size + MAC_BYTES
TOKEN_TEXT_LENGTH = 99  # decimal digits of a 41-byte number, zero-padded
_MAX_LIFE_SECONDS = 0xFFFF
_KDF_SALT = b"fairroll token mac v2"

DEFAULT_CLOCK_SKEW = timedelta(seconds=30)


class TokenError(ValueError):
    """A token was refused; ``reason`` is a short machine-readable word."""

    reason = "invalid"


class MalformedToken(TokenError):
    """The text is not a token of a version this code knows."""

    reason = "malformed"


class UnknownKey(TokenError):
    """The token names a signing key this verifier does not hold."""

    reason = "unknown_key"


class BadSignature(TokenError):
    """The MAC does not match: forged or corrupted."""

    reason = "bad_signature"


class WrongDispenser(TokenError):
    """The token is bound to another dispenser."""

    reason = "wrong_dispenser"


class ExpiredToken(TokenError):
    """The token's life is over."""

    reason = "expired"


class NotYetValid(TokenError):
    """The token was issued in the future, beyond the allowed clock skew."""

    reason = "not_yet_valid"


@dataclass(frozen=True)
class TokenClaims:
    """What a token says, once its MAC has been checked (or before, when minting).

    ``key_id`` is the 4-byte id of the backend key; a token carries only its first byte,
    so parse_token's claims hold that one byte until verify_token finds the key.
    """

    key_id: bytes
    token_id: bytes
    dispenser_id: bytes
    issued_at: datetime
    expires_at: datetime
    version: int = TOKEN_VERSION

    def token_ref(self) -> str:
        """The hex SHA-256 of the token id: what the backend stores and devices report."""
        return token_ref(self.token_id)


def token_ref(token_id: bytes) -> str:
    """Hash a token id into the reference stored and exchanged instead of the id itself."""
    return hashlib.sha256(token_id).hexdigest()


def key_id_for(public_key: Ed25519PublicKey) -> bytes:
    """Derive the 4-byte key id from a public key."""
    return hashlib.sha256(public_key_bytes(public_key)).digest()[:KEY_ID_BYTES]


def public_key_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def encode_public_key(public_key: Ed25519PublicKey) -> dict[str, str]:
    """Describe a backend key's public half (key metadata, never used to verify tokens)."""
    return {
        "kid": key_id_for(public_key).hex(),
        "alg": "Ed25519",
        "public_key": base64.urlsafe_b64encode(public_key_bytes(public_key)).decode("ascii"),
    }


def dispenser_token_key(private_key: Ed25519PrivateKey, dispenser_id: bytes) -> bytes:
    """The 32-byte MAC key of one dispenser, derived from a backend key (HKDF-SHA256)."""
    if len(dispenser_id) != DISPENSER_ID_BYTES:
        raise ValueError("a dispenser id has the wrong length")
    secret = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=dispenser_id)
    return kdf.derive(secret)


def encode_token_key(private_key: Ed25519PrivateKey, dispenser_id: bytes) -> dict[str, str]:
    """One dispenser's MAC key as its device config lists it: key id, algorithm, key."""
    key = dispenser_token_key(private_key, dispenser_id)
    return {
        "kid": key_id_for(private_key.public_key()).hex(),
        "alg": MAC_ALGORITHM,
        "key": base64.urlsafe_b64encode(key).decode("ascii"),
    }


def decode_public_keys(entries: object) -> dict[bytes, bytes]:
    """Parse the ``token_keys`` list of a device config into a key-id -> MAC-key map.

    (The name dates from signed tokens; since token version 2 the list holds the
    dispenser's own MAC keys, written by encode_token_key.)
    """
    if not isinstance(entries, list):
        raise ValueError("token keys must be a list")
    keys: dict[bytes, bytes] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("alg") != MAC_ALGORITHM:
            raise ValueError(f"each token key needs alg {MAC_ALGORITHM}, kid and key")
        try:
            kid = bytes.fromhex(str(entry["kid"]))
            key = base64.urlsafe_b64decode(str(entry["key"]))
        except (KeyError, ValueError, binascii.Error) as exc:
            raise ValueError(f"unreadable token key: {exc}") from exc
        if len(kid) != KEY_ID_BYTES or len(key) != 32:
            raise ValueError("a token key has a 4-byte id and a 32-byte key")
        keys[kid] = key
    return keys


def _unix(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("token times must be timezone-aware")
    return int(moment.timestamp())


def _from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _mac(key: bytes, header: bytes) -> bytes:
    return hmac.new(key, header, hashlib.sha256).digest()[:MAC_BYTES]


def sign_token(claims: TokenClaims, private_key: Ed25519PrivateKey) -> str:
    """Serialise ``claims`` and MAC them with their dispenser's key; return the QR text."""
    if claims.key_id != key_id_for(private_key.public_key()):
        raise ValueError("claims name a different key than the one signing them")
    if len(claims.token_id) != TOKEN_ID_BYTES or len(claims.dispenser_id) != DISPENSER_ID_BYTES:
        raise ValueError("token id or dispenser id has the wrong length")
    issued = _unix(claims.issued_at)
    life = _unix(claims.expires_at) - issued
    if not 0 < life <= _MAX_LIFE_SECONDS:
        raise ValueError(f"a token lives 1 to {_MAX_LIFE_SECONDS} seconds")
    header = _HEADER.pack(claims.key_id[0], claims.token_id, claims.dispenser_id, issued, life)
    raw = header + _mac(dispenser_token_key(private_key, claims.dispenser_id), header)
    return str(int.from_bytes(raw, "big")).zfill(TOKEN_TEXT_LENGTH)


def parse_token(text: str) -> tuple[TokenClaims, bytes, bytes]:
    """Split token text into claims, MAC'd bytes and MAC, without verifying."""
    if not isinstance(text, str):
        raise MalformedToken("a token is text")
    cleaned = text.strip()
    if len(cleaned) != TOKEN_TEXT_LENGTH:
        raise MalformedToken(f"a token has {TOKEN_TEXT_LENGTH} digits, not {len(cleaned)}")
    if not (cleaned.isascii() and cleaned.isdigit()):
        raise MalformedToken("a token uses only the digits 0-9")
    number = int(cleaned)
    if number >= 1 << (8 * TOKEN_BYTES):
        raise MalformedToken("a token's number is out of range")
    raw = number.to_bytes(TOKEN_BYTES, "big")
    header, mac = raw[: _HEADER.size], raw[_HEADER.size :]
    hint, token_id, dispenser_id, issued, life = _HEADER.unpack(header)
    if life == 0:
        raise MalformedToken("a token must expire after it was issued")
    claims = TokenClaims(
        key_id=bytes([hint]),
        token_id=token_id,
        dispenser_id=dispenser_id,
        issued_at=_from_unix(issued),
        expires_at=_from_unix(issued + life),
    )
    return claims, header, mac


def verify_token(
    text: str,
    keys: Mapping[bytes, bytes],
    *,
    dispenser_id: bytes,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> TokenClaims:
    """Check binding, MAC and time window; return the claims or raise a TokenError.

    ``keys`` maps key ids to this dispenser's MAC keys (decode_public_keys). Single use is
    not checked here: that needs the verifier's spent-set or the database.
    """
    claims, header, mac = parse_token(text)
    if claims.dispenser_id != dispenser_id:
        raise WrongDispenser("the token belongs to another dispenser")
    # The token names its key by one byte: at most the current and the previous key match.
    candidates = [kid for kid in keys if kid[0] == claims.key_id[0]]
    if not candidates:
        raise UnknownKey("the token was made with a key this verifier does not hold")
    matched = next(
        (kid for kid in candidates if hmac.compare_digest(_mac(keys[kid], header), mac)), None
    )
    if matched is None:
        raise BadSignature("the token's MAC does not match")
    if now > claims.expires_at + clock_skew:
        raise ExpiredToken("the token has expired")
    if claims.issued_at > now + clock_skew:
        raise NotYetValid("the token was issued in the future")
    return replace(claims, key_id=matched)
