"""Files that hold personal data or secrets (the database and its -wal/-shm, keys, printed
PDFs, the forwarding outbox): readable by the service's user alone, 0600 in 0700 folders.

Modes are given when a file or folder is created, so there is no moment when it is readable
by others; the process umask can only narrow them further.
"""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Make `path` (and missing parents) as 0700 folders. An existing folder keeps its mode: a
    city may have given the forwarding folder to the core system's importer on purpose."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, FOLDER_MODE)   # mkdir's mode is narrowed by the umask, never widened
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path}")
    return path


def create_private(path: Path, *, exclusive: bool = True) -> int:
    """Open a new file for writing, created 0600; returns the file descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else 0)
    return os.open(path, flags, FILE_MODE)


def tighten(path: Path) -> None:
    """An existing file of ours that others may read (made by an older version): 0600."""
    try:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
    except PermissionError:     # another user's file: not ours to change; opening it tells the rest
        pass
