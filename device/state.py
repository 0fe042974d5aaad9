"""The device's state directory: ledger database, device key file, enrollment."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from device.api import DeviceApi, Enrollment
from device.remote import RemoteConfig, RemoteConfigError, parse_remote_config
from device.store import Store

DB_NAME = "device.db"
KEY_NAME = "device.key"


class NotEnrolled(Exception):
    """The device has no key yet: run ``python -m device enroll``."""


def open_store(state_dir: Path) -> Store:
    """Open (creating if needed) the ledger in ``state_dir``."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Store(state_dir / DB_NAME)


def write_key(state_dir: Path, key: str) -> None:
    """Store the device key in a file only its owner can read (mode 0600)."""
    path = state_dir / KEY_NAME
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def read_key(state_dir: Path) -> str:
    """The device key; raises NotEnrolled when there is none."""
    try:
        key = (state_dir / KEY_NAME).read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise NotEnrolled("this device is not enrolled yet") from exc
    if not key:
        raise NotEnrolled("the device key file is empty")
    return key


def enroll(state_dir: Path, server: str, code: str, *, timeout: float = 10.0) -> RemoteConfig:
    """Enroll with the backend and store the key, server and config; return the config."""
    api = DeviceApi(server, timeout=timeout)
    return save_enrollment(state_dir, server, api.enroll(code))


def stored_dispenser_id(state_dir: Path) -> str | None:
    """The dispenser id this state directory was enrolled as, if any."""
    if not (state_dir / DB_NAME).exists():
        return None
    store = open_store(state_dir)
    try:
        return store.get_setting("dispenser_id")
    finally:
        store.close()


def save_enrollment(state_dir: Path, server: str, enrollment: Enrollment) -> RemoteConfig:
    """Store what enrolling returned: key (0600), server, dispenser id and config."""
    remote = parse_remote_config(enrollment.config)
    store = open_store(state_dir)
    try:
        write_key(state_dir, enrollment.device_key)
        store.set_setting("server_url", server.rstrip("/"))
        store.set_setting("dispenser_id", enrollment.dispenser_id)
        store.set_setting("config_doc", json.dumps(enrollment.config))
        store.set_setting("config_etag", "")
    finally:
        store.close()
    return remote


class RemoteHolder:
    """The current backend config, shared by the loop and the sync thread."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._remote: RemoteConfig | None = None
        raw = store.get_setting("config_doc")
        if raw:
            try:
                self._remote = parse_remote_config(json.loads(raw))
            except (ValueError, RemoteConfigError):
                self._remote = None

    def get(self) -> RemoteConfig | None:
        """The config in force, or None before enrollment."""
        with self._lock:
            return self._remote

    def replace(self, doc: dict[str, object], etag: str | None) -> RemoteConfig:
        """Validate, persist and switch to a new config document."""
        remote = parse_remote_config(doc)
        self._store.set_setting("config_doc", json.dumps(doc))
        self._store.set_setting("config_etag", etag or "")
        with self._lock:
            self._remote = remote
        return remote

    @property
    def etag(self) -> str | None:
        """The ETag of the stored config."""
        return self._store.get_setting("config_etag") or None
