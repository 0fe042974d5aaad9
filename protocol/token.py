"""The access token: a compact, signed, dispenser-bound, single-use ticket for one portion.

Binary layout (big-endian), then the Ed25519 signature over those bytes::

    offset size field
    0      1    version (1)
    1      4    key id (first 4 bytes of SHA-256 of the raw public key)
    5      12   token id (96 random bits)
    17     6    dispenser id (raw bytes of the dispenser's public id)
    23     4    issued-at, Unix seconds
    27     4    expires-at, Unix seconds
    31     64   Ed25519 signature over bytes 0..30

95 bytes in all, written as unpadded RFC 4648 base32 (152 characters). Base32 uses only
the characters of a QR code's alphanumeric mode, so the symbol stays small, and it is
case-insensitive and URL-safe. See docs/tokens.md for the reasoning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.ids import DISPENSER_ID_BYTES

TOKEN_VERSION = 1
KEY_ID_BYTES = 4
TOKEN_ID_BYTES = 12
SIGNATURE_BYTES = 64
_HEADER = struct.Struct(f">B{KEY_ID_BYTES}s{TOKEN_ID_BYTES}s{DISPENSER_ID_BYTES}sII")
TOKEN_BYTES = _HEADER.size + SIGNATURE_BYTES
TOKEN_TEXT_LENGTH = 152  # base32 of 95 bytes, without padding

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
    """The signature does not match: forged or corrupted."""

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
    """What a token says, once its signature has been checked (or before, when minting)."""

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
    """Describe a public key for the device config: key id (hex) and raw key (base64url)."""
    return {
        "kid": key_id_for(public_key).hex(),
        "alg": "Ed25519",
        "public_key": base64.urlsafe_b64encode(public_key_bytes(public_key)).decode("ascii"),
    }


def decode_public_keys(entries: object) -> dict[bytes, Ed25519PublicKey]:
    """Parse the ``keys`` list of a device config into a key-id -> public-key map."""
    if not isinstance(entries, list):
        raise ValueError("token keys must be a list")
    keys: dict[bytes, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("alg") != "Ed25519":
            raise ValueError("each token key needs alg Ed25519, kid and public_key")
        try:
            raw = base64.urlsafe_b64decode(str(entry["public_key"]))
            key = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, ValueError, binascii.Error) as exc:
            raise ValueError(f"unreadable token public key: {exc}") from exc
        kid = key_id_for(key)
        if kid.hex() != entry.get("kid"):
            raise ValueError("token key id does not match its public key")
        keys[kid] = key
    return keys


def _unix(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("token times must be timezone-aware")
    return int(moment.timestamp())


def _from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def sign_token(claims: TokenClaims, private_key: Ed25519PrivateKey) -> str:
    """Serialise and sign ``claims``; return the token text for the QR code."""
    if claims.key_id != key_id_for(private_key.public_key()):
        raise ValueError("claims name a different key than the one signing them")
    if len(claims.token_id) != TOKEN_ID_BYTES or len(claims.dispenser_id) != DISPENSER_ID_BYTES:
        raise ValueError("token id or dispenser id has the wrong length")
    header = _HEADER.pack(
        claims.version,
        claims.key_id,
        claims.token_id,
        claims.dispenser_id,
        _unix(claims.issued_at),
        _unix(claims.expires_at),
    )
    raw = header + private_key.sign(header)
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def parse_token(text: str) -> tuple[TokenClaims, bytes, bytes]:
    """Split token text into claims, signed bytes and signature, without verifying."""
    if not isinstance(text, str):
        raise MalformedToken("a token is text")
    cleaned = text.strip().upper()
    if len(cleaned) != TOKEN_TEXT_LENGTH:
        raise MalformedToken(f"a token has {TOKEN_TEXT_LENGTH} characters, not {len(cleaned)}")
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except binascii.Error as exc:
        raise MalformedToken("a token uses only A-Z and 2-7") from exc
    if len(raw) != TOKEN_BYTES:
        raise MalformedToken("a token decodes to the wrong number of bytes")
    header, signature = raw[: _HEADER.size], raw[_HEADER.size :]
    version, kid, token_id, dispenser_id, issued, expires = _HEADER.unpack(header)
    if version != TOKEN_VERSION:
        raise MalformedToken(f"token version {version} is not supported")
    if expires <= issued:
        raise MalformedToken("a token must expire after it was issued")
    claims = TokenClaims(
        key_id=kid,
        token_id=token_id,
        dispenser_id=dispenser_id,
        issued_at=_from_unix(issued),
        expires_at=_from_unix(expires),
        version=version,
    )
    return claims, header, signature


def verify_token(
    text: str,
    public_keys: Mapping[bytes, Ed25519PublicKey],
    *,
    dispenser_id: bytes,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> TokenClaims:
    """Check signature, binding and time window; return the claims or raise a TokenError.

    Single use is not checked here: that needs the verifier's spent-set or the database.
    """
    claims, header, signature = parse_token(text)
    key = public_keys.get(claims.key_id)
    if key is None:
        raise UnknownKey("the token was signed with a key this verifier does not hold")
    try:
        key.verify(signature, header)
    except InvalidSignature as exc:
        raise BadSignature("the token's signature does not match") from exc
    if claims.dispenser_id != dispenser_id:
        raise WrongDispenser("the token belongs to another dispenser")
    if now > claims.expires_at + clock_skew:
        raise ExpiredToken("the token has expired")
    if claims.issued_at > now + clock_skew:
        raise NotYetValid("the token was issued in the future")
    return claims
