"""The speech cache: one WAV per text, in a folder of the kiosk (readable by the service alone).

A file is named by a SHA-256 of the engine, language and text, so no words — nor anything a
client sent — appear in file names. The folder is kept under `max_bytes`: the files used least
recently go first (a hit touches its file's time).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from pathlib import Path

from core.private_files import create_private, private_folder

SUFFIX = ".wav"


class SpeechCache:
    def __init__(self, folder: Path, max_bytes: int = 200 * 1024 * 1024):
        self.folder = Path(folder)
        self.max_bytes = max(0, int(max_bytes))
        self._lock = threading.Lock()

    @staticmethod
    def key(engine: str, lang: str, text: str) -> str:
        return hashlib.sha256("\0".join((engine, lang, text)).encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("not a cache key")
        return self.folder / f"{key}{SUFFIX}"

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:
            return None
        return data

    def put(self, key: str, wav: bytes) -> None:
        if len(wav) > self.max_bytes:
            return
        final = self._path(key)
        tmp = self.folder / f".{key}.{secrets.token_hex(4)}.tmp"
        try:
            private_folder(self.folder)
            fd = create_private(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(wav)
            os.replace(tmp, final)      # complete or absent, never half a file
        except OSError:
            # A full or read-only disk: speech still works, only uncached.
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        self.evict()

    def files(self) -> list[tuple[float, int, Path]]:
        out = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return out
        for entry in entries:
            if entry.name.endswith(SUFFIX) and not entry.name.startswith("."):
                try:
                    st = entry.stat()
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def size(self) -> int:
        return sum(size for _, size, _ in self.files())

    def evict(self) -> None:
        """Remove the least recently used files until the folder holds at most max_bytes."""
        with self._lock:
            files = sorted(self.files())
            total = sum(size for _, size, _ in files)
            for _, size, path in files:
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
