"""Secrets kept as files under [keys].dir: created by `madoguchi init`, never logged."""
from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from core.private_files import create_private, private_folder


def _key_file(config, name: str) -> Path:
    return config.path(config.keys.dir) / name


# Secrets already read, by file: {path: ((mtime_ns, size, inode), value)}. Some are asked for on
# every request or log entry; a file replaced or rewritten is read again.
_loaded: dict[Path, tuple[tuple[int, int, int], str]] = {}
_loaded_lock = threading.Lock()


def _read(path: Path) -> str | None:
    """The secret in `path` (None if there is no such file), read once per version of the file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _loaded_lock:
        cached = _loaded.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    value = path.read_text().strip()
    if value:  # an empty file is one another process is still writing
        with _loaded_lock:
            _loaded[path] = (stamp, value)
    return value


def read_existing(config, name: str) -> str | None:
    """The secret in file `name`, or None when there is none (never made here)."""
    return _read(_key_file(config, name))


def key_files(config) -> dict[str, Path]:
    """Every key file of the keys folder, by name (not the ones another process is still writing)."""
    folder = config.path(config.keys.dir)
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.stat().st_size > 0}


def read_or_create(config, name: str, nbytes: int = 32) -> str:
    """Return the secret in file `name`, creating it (mode 0600) on first use."""
    path = _key_file(config, name)
    value = _read(path)
    if value is not None:
        return value
    value = secrets.token_urlsafe(nbytes)
    # O_EXCL: when two processes start together, one writes and both read the same value.
    try:
        create_key_file(path, value)
    except FileExistsError:
        return path.read_text().strip()  # being written by the other process: not cached yet
    return _read(path) or value


def create_key_file(path: Path, value: str) -> None:
    """Write a new secret file (0600, in a 0700 folder); FileExistsError if there is one already."""
    private_folder(path.parent)
    fd = create_private(path)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


DATABASE_PASSWORD = "database.password"


def database_password(config) -> str | None:
    """The PostgreSQL user's password; config overrides the file; None without either (never made)."""
    return config.keys.database_password or read_existing(config, DATABASE_PASSWORD)


def session_secret(config) -> str:
    return read_or_create(config, "session.key")


def office_api_key(config) -> str:
    """Key the office side presents to the prereg PULL API; config overrides the file."""
    return config.keys.office_api_key or read_or_create(config, "office_api.key")


def kiosk_device_token(config) -> str:
    return config.keys.kiosk_device_token or read_or_create(config, "kiosk_device.token")


def subject_key(config) -> str:
    """Key of the exchange log's subject references (`core.exchange_log.subject_ref`), so
    entries about one person can be found without writing their name into the log."""
    return read_or_create(config, "subject.key")


def signin_throttle_key(config) -> str:
    """Key of the sign-in throttle's hashes of typed names and addresses (`core.signin_throttle`)."""
    return read_or_create(config, "signin_throttle.key")


# The key backups are encrypted under (core.backup). Never inside a backup: the city keeps an
# exported copy off the machine (`madoguchi backup key export`).
BACKUP_KEY = "backup.key"


def ensure_keys(config) -> None:
    session_secret(config)
    office_api_key(config)
    kiosk_device_token(config)
    subject_key(config)
    signin_throttle_key(config)
