"""Signing keys: local file store, AWS Secrets Manager store (moto), rotation."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws

from backend import create_app
from backend.signing import (
    CachedKeyRing,
    FileKeyStore,
    KeyStoreError,
    SecretsManagerKeyStore,
    make_key_store,
    ring_to_json,
)
from protocol.ids import dispenser_id_to_bytes
from protocol.token import decode_public_keys, verify_token
from tests.conftest import app_config
from tests.factories import auth, enroll, make_dispenser, make_site, now


def test_file_store_generates_a_private_key_file_readable_by_owner_only(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    ring = store.load()
    mode = stat.S_IMODE(os.stat(tmp_path / "keys" / "keyring.json").st_mode)
    assert mode == 0o600
    assert store.load().public_key_documents() == ring.public_key_documents()


def test_broken_key_file_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "keyring.json").write_text("{not json")
    with pytest.raises(KeyStoreError, match="not a key ring"):
        FileKeyStore(tmp_path).load()
    (tmp_path / "keyring.json").write_text(json.dumps({"current": "-----BEGIN nonsense"}))
    with pytest.raises(KeyStoreError, match="unreadable"):
        FileKeyStore(tmp_path).load()


def test_rotation_keeps_the_previous_key_valid(tmp_path: Path) -> None:
    keys = CachedKeyRing(FileKeyStore(tmp_path), ttl=0)
    (old_kid,) = keys.get().public_keys()
    new = keys.rotate()
    new_kid = next(iter(new.public_keys()))
    assert list(new.public_keys()) == [new_kid, old_kid] and new_kid != old_kid
    newer = keys.rotate()
    assert old_kid not in newer.public_keys()  # two rotations retire the oldest key
    assert new_kid in newer.public_keys()


def test_a_reload_with_the_same_keys_keeps_the_derived_documents_and_a_rotation_not(
    tmp_path: Path,
) -> None:
    """Every instance reloads the ring each minute: the same keys keep the ring object
    (and the dispensers' token key documents derived from it); a rotation by another
    instance is picked up at the next reload."""
    store = FileKeyStore(tmp_path)
    keys = CachedKeyRing(store, ttl=0)
    first = keys.get()
    dispenser = dispenser_id_to_bytes("2bmge2aali")
    documents = first.token_key_documents(dispenser)
    assert keys.get() is first and keys.get().token_key_documents(dispenser) == documents
    CachedKeyRing(store, ttl=0).rotate()  # another instance rotates
    rotated = keys.get()
    assert rotated is not first and rotated.token_key_documents(dispenser) != documents


@pytest.fixture
def secret_id() -> Iterator[str]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from backend.signing import KeyRing

        ring = KeyRing(current=Ed25519PrivateKey.generate())
        client.create_secret(Name="fairroll/signing-keys", SecretString=ring_to_json(ring))
        yield "fairroll/signing-keys"


def test_secrets_manager_store_loads_and_rotates(secret_id: str) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    store = SecretsManagerKeyStore(client, secret_id)
    first = store.load()
    rotated = CachedKeyRing(store, ttl=0).rotate()
    assert store.load().public_key_documents() == rotated.public_key_documents()
    assert rotated.previous[0].public_key().public_bytes_raw() == (
        first.current.public_key().public_bytes_raw()
    )


def test_secrets_manager_store_errors_are_clear(secret_id: str) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    with pytest.raises(KeyStoreError, match="does not exist"):
        SecretsManagerKeyStore(client, "missing").load()
    client.put_secret_value(SecretId=secret_id, SecretString="garbage")
    with pytest.raises(KeyStoreError, match="not a key ring"):
        SecretsManagerKeyStore(client, secret_id).load()
    with pytest.raises(KeyStoreError, match="SECRET_ID"):
        SecretsManagerKeyStore(client, "")


def test_rotation_creates_the_first_key_in_an_empty_secret(secret_id: str) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.put_secret_value(SecretId=secret_id, SecretString="{}")
    store = SecretsManagerKeyStore(client, secret_id)
    with pytest.raises(KeyStoreError, match="keys rotate"):
        store.load()
    ring = CachedKeyRing(store, ttl=0).rotate()
    assert ring.previous == ()
    assert store.load().public_key_documents() == ring.public_key_documents()


def test_app_chooses_the_secrets_manager_store_from_config(secret_id: str, tmp_path: Path) -> None:
    app = create_app(
        app_config(
            f"sqlite:///{tmp_path / 'x.db'}",
            tmp_path,
            FAIRROLL_SIGNING_KEY_BACKEND="secretsmanager",
            FAIRROLL_SIGNING_KEY_SECRET_ID=secret_id,
        )
    )
    assert isinstance(make_key_store(app), SecretsManagerKeyStore)
    assert len(app.extensions["fairroll.keys"].get().public_key_documents()) == 1


def test_tokens_signed_before_a_rotation_still_verify_on_devices(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site(window_seconds=0, min_interval_seconds=0))
    key = enroll(client, dispenser)["device_key"]
    before = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()
    cached: CachedKeyRing = app.extensions["fairroll.keys"]
    cached.rotate()
    after = client.post(f"/api/v1/dispensers/{dispenser.public_id}/tokens").get_json()
    config = client.get("/api/v1/device/config", headers=auth(key)).get_json()
    keys = decode_public_keys(config["token_keys"])
    assert len(keys) == 2
    raw_id = dispenser_id_to_bytes(dispenser.public_id)
    for issued in (before, after):
        verify_token(issued["token"], keys, dispenser_id=raw_id, now=now())


def test_empty_key_store_answers_503_not_500(secret_id: str, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.put_secret_value(SecretId=secret_id, SecretString="{}")
    app = create_app(
        app_config(
            f"sqlite:///{tmp_path / 'x.db'}",
            tmp_path,
            FAIRROLL_SIGNING_KEY_BACKEND="secretsmanager",
            FAIRROLL_SIGNING_KEY_SECRET_ID=secret_id,
        )
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        site = make_site()
        dispenser = make_dispenser(site)
        response = app.test_client().post(f"/api/v1/dispensers/{dispenser.public_id}/tokens")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "signing_keys_unavailable"
