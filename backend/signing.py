"""Token signing keys: where the private keys live, and their rotation.

Two key stores, chosen by ``FAIRROLL_SIGNING_KEY_BACKEND``:

- ``file``: PEM files in a local folder (development; generated on first run).
- ``secretsmanager``: one AWS Secrets Manager secret holding the current and the
  previous private key as JSON (production).

A key ring holds the current key (signs new tokens) and the previous key (its tokens
still verify until they expire). Each device receives, in its config, only the token
MAC keys derived from both for itself (protocol.token.encode_token_key).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from protocol.token import encode_public_key, encode_token_key, key_id_for, public_key_bytes

if TYPE_CHECKING:  # only the app factory's wiring below takes an app; services never do
    from flask import Flask


class KeyStoreError(RuntimeError):
    """The key store is unreadable or holds something that is not a key ring."""


class KeyStoreEmpty(KeyStoreError):
    """The key store holds no key yet: `flask keys rotate` makes the first one."""


# Enough for a city's dispensers (about 800 bytes each with two keys: some 40 MB at most).
_DOCUMENT_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class KeyRing:
    """The current signing key and the previous one (kept for tokens still alive)."""

    current: Ed25519PrivateKey
    previous: tuple[Ed25519PrivateKey, ...] = field(default=())
    # Dispenser id -> its token key documents: derived once per ring (every heartbeat's
    # config ETag needs them). A reloaded or rotated ring is a new object, with a new cache.
    _documents: dict[bytes, list[dict[str, str]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def public_keys(self) -> dict[bytes, Ed25519PublicKey]:
        """Key id -> public key, for every key whose tokens still verify."""
        keys = [self.current, *self.previous]
        return {key_id_for(k.public_key()): k.public_key() for k in keys}

    def public_key_documents(self) -> list[dict[str, str]]:
        """The public keys as the device config lists them, current first."""
        return [encode_public_key(k.public_key()) for k in (self.current, *self.previous)]

    def token_key_documents(self, dispenser_id: bytes) -> list[dict[str, str]]:
        """One dispenser's token MAC keys for its device config, current first."""
        documents = self._documents.get(dispenser_id)
        if documents is None:
            documents = [encode_token_key(k, dispenser_id) for k in (self.current, *self.previous)]
            if len(self._documents) < _DOCUMENT_CACHE_SIZE:
                self._documents[dispenser_id] = documents
        return [dict(d) for d in documents]

    def rotated(self) -> KeyRing:
        """A new ring: a fresh current key; the old current becomes the only previous."""
        return KeyRing(current=Ed25519PrivateKey.generate(), previous=(self.current,))


def _to_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii")


def _from_pem(text: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(f"unreadable signing key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError("signing keys must be Ed25519")
    return key


def ring_to_json(ring: KeyRing) -> str:
    """Serialise a ring (private keys!) for a secret store."""
    return json.dumps(
        {"current": _to_pem(ring.current), "previous": [_to_pem(k) for k in ring.previous]}
    )


def ring_from_json(text: str) -> KeyRing:
    """Parse a ring serialised by :func:`ring_to_json`."""
    try:
        data = json.loads(text)
        current = data["current"]
        previous = data.get("previous", [])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyStoreError("the signing key secret is not a key ring document") from exc
    if not isinstance(current, str) or not isinstance(previous, list):
        raise KeyStoreError("the signing key secret is not a key ring document")
    return KeyRing(current=_from_pem(current), previous=tuple(_from_pem(p) for p in previous))


class KeyStore(Protocol):
    """Where the private signing keys live."""

    def load(self) -> KeyRing:
        """Return the key ring, creating one if the store is empty and allowed to."""

    def save(self, ring: KeyRing) -> None:
        """Replace the stored ring."""


class FileKeyStore:
    """Key ring in a local JSON file with mode 0600 (development and the embedded demo)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "keyring.json"

    def load(self) -> KeyRing:
        if not self.path.exists():
            ring = KeyRing(current=Ed25519PrivateKey.generate())
            self.save(ring)
            return ring
        return ring_from_json(self.path.read_text())

    def save(self, ring: KeyRing) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(ring_to_json(ring))
        os.replace(tmp, self.path)


class SecretsManagerKeyStore:
    """Key ring in one AWS Secrets Manager secret (production)."""

    def __init__(self, client: Any, secret_id: str) -> None:
        if not secret_id:
            raise KeyStoreError("FAIRROLL_SIGNING_KEY_SECRET_ID must name the signing key secret")
        self.client = client
        self.secret_id = secret_id

    def load(self) -> KeyRing:
        try:
            value = self.client.get_secret_value(SecretId=self.secret_id)
        except self.client.exceptions.ResourceNotFoundException as exc:
            raise KeyStoreError(f"signing key secret {self.secret_id!r} does not exist") from exc
        text = (value.get("SecretString") or "").strip()
        # The infrastructure creates the secret as "{}": no private key ever sits in a template.
        if text in ("", "{}"):
            raise KeyStoreEmpty(
                "the signing key secret holds no key yet; run `flask --app app keys rotate`"
            )
        return ring_from_json(text)

    def save(self, ring: KeyRing) -> None:
        self.client.put_secret_value(SecretId=self.secret_id, SecretString=ring_to_json(ring))


def make_key_store(app: Flask) -> KeyStore:
    """Build the key store the configuration names."""
    backends: dict[str, Callable[[], KeyStore]] = {
        "file": lambda: FileKeyStore(Path(app.config["FAIRROLL_SIGNING_KEY_DIR"])),
        "secretsmanager": lambda: _secrets_manager_store(app),
    }
    return backends[app.config["FAIRROLL_SIGNING_KEY_BACKEND"]]()


def _secrets_manager_store(app: Flask) -> KeyStore:
    from backend.aws import client

    return SecretsManagerKeyStore(
        client("secretsmanager", app), app.config["FAIRROLL_SIGNING_KEY_SECRET_ID"]
    )


def _public_bytes(ring: KeyRing) -> tuple[bytes, ...]:
    """The ring's public keys, current first: equal exactly when the rings hold the same keys."""
    return tuple(public_key_bytes(k.public_key()) for k in (ring.current, *ring.previous))


class CachedKeyRing:
    """The key ring, reloaded from its store at most every ``ttl`` seconds.

    Several backend instances pick up a rotation within ``ttl`` without a restart.
    """

    def __init__(self, store: KeyStore, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> KeyRing:
        """The ring, fresh within ``ttl``."""
        with self._lock:
            if self._ring is None or self.clock() - self._loaded_at >= self.ttl:
                loaded = self.store.load()
                # The same keys as before: keep the ring object, and with it the token key
                # documents it derived (a new object would derive them all again).
                if self._ring is None or _public_bytes(loaded) != _public_bytes(self._ring):
                    self._ring = loaded
                self._loaded_at = self.clock()
            return self._ring

    def rotate(self) -> KeyRing:
        """Make a new current key, keep the old one as previous, and store the ring."""
        with self._lock:
            try:
                ring = self.store.load().rotated()
            except KeyStoreEmpty:
                ring = KeyRing(current=Ed25519PrivateKey.generate())
            self.store.save(ring)
            self._ring, self._loaded_at = ring, self.clock()
            return ring


def key_ring(app: Flask) -> KeyRing:
    """The app's current key ring."""
    cached: CachedKeyRing = app.extensions["fairroll.keys"]
    return cached.get()
