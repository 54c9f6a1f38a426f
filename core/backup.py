"""Backups: an online copy of the database and the keys a restore needs, encrypted under the
site's backup key, rotated; and the restore that opens one into a new folder and verifies it.

What a backup holds (a tar stream, encrypted):
  manifest.json   format, the engine, made_at (Japan's time), the migrations applied, the
                  database copy's sha256 and size, the exchange log's head; no personal data
  madoguchi.db    SQLite: its online backup of the database (safe while the server writes: WAL)
  madoguchi.pgdump.NNNNNN   PostgreSQL: `pg_dump --format=custom` of one snapshot, streamed in
                  parts (no plaintext copy on any disk); the manifest is read in that snapshot
  keys/NAME       every key of [keys].dir but the backup key: the subject key finds a person's
                  exchange-log entries, the kiosk device secret keeps the kiosks' tokens valid,
                  the API keys keep the prereg server and the core system talking to the office
The backup key is never inside a backup: without the key (`madoguchi backup key export`) a
backup cannot be restored.

File format (".mdgbak"): MAGIC, a random 32-byte salt and a 16-byte key check, then records of
a 4-byte big-endian length and one AES-256-GCM chunk. Each file has its own key, HKDF-SHA256 of
the backup key and the salt; chunk i's nonce is i and a last-chunk flag (the STREAM
construction), and the header is every chunk's associated data, so a chunk changed, swapped,
dropped or added, or a file cut short, fails to decrypt. The envelope is the engines' one
home: only how the database is copied (`_SqliteSource`, `_PostgresqlSource`) and put back
(`_restore_sqlite`, `_restore_postgresql`) differ.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

import sqlite_utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import exchange_log
from core.clock import JAPAN, in_japan, now_in_japan
from core.errors import MadoguchiError
from core.keys import BACKUP_KEY, key_files, read_existing, read_or_create
from core.private_files import create_private, private_folder
from core.store.db import applied_migrations, connect, known_migrations, open_database, open_postgresql
from core.store.tenancy import DEFAULT_TENANT, grant_every_town

MAGIC = b"MDGBAK1\n"
SALT_BYTES = 32
CHECK_BYTES = 16
HEADER_BYTES = len(MAGIC) + SALT_BYTES + CHECK_BYTES
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
FORMAT = 1
SUFFIX = ".mdgbak"
DB_NAME = "madoguchi.db"
# PostgreSQL's dump, in tar members of DUMP_PART_BYTES (a tar member's size comes first, and a
# dump's is known only at its end): madoguchi.pgdump.000000, .000001, …
DUMP_NAME = "madoguchi.pgdump"
DUMP_PART_BYTES = 8 * 1024 * 1024
_DUMP_PART = re.compile(re.escape(DUMP_NAME) + r"\.(\d{6})")
# Debian's postgresql-client-NN: pg_dump and pg_restore of the server's major version.
PG_BIN_ROOT = Path("/usr/lib/postgresql")
MANIFEST_NAME = "manifest.json"
KEYS_FOLDER = "keys"
# madoguchi-20261202-135959.mdgbak: the time it was made, in Japan.
_NAME = re.compile(r"^madoguchi-(\d{8}-\d{6})(?:-(\d+))?" + re.escape(SUFFIX) + "$")
_STAMP = "%Y%m%d-%H%M%S"
_PARTIAL_MAX_AGE_SECONDS = 3600


class BackupError(MadoguchiError):
    """codes: backup_folder_unwritable | disk_full | database_unreadable | no_backup_key
    | database_unreachable | pg_dump_missing"""

    code = "backup_failed"


class RestoreError(MadoguchiError):
    """codes: target_not_empty | target_unwritable | disk_full | not_a_backup | wrong_key | tampered | no_backup_key
    | bad_backup_key | needs_database | not_a_postgresql_backup | database_unreachable | pg_restore_missing
    | database_restore_failed"""

    code = "restore_failed"


def backup_key(config) -> bytes:
    """The site's backup key (32 bytes), made on first use beside the other keys."""
    return decode_key(read_or_create(config, BACKUP_KEY))


def existing_backup_key(config) -> bytes:
    """The backup key of the keys folder, never made anew (a fresh key opens no backup)."""
    text = read_existing(config, BACKUP_KEY)
    if text is None:
        raise RestoreError(f"no backup key in {config.path(config.keys.dir)}: give the exported key with --key-file",
                           code="no_backup_key")
    return decode_key(text)


def decode_key(text: str) -> bytes:
    """A backup key as kept in the keys folder and exported: 32 bytes in URL-safe base64."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, TypeError):
        key = b""
    if len(key) != 32:
        raise RestoreError("not a backup key (32 bytes in URL-safe base64 expected)", code="bad_backup_key")
    return key


# ---- the encrypted envelope ------------------------------------------------------------

def _file_key(key: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"madoguchi backup v1").derive(key)


def _key_check(file_key: bytes) -> bytes:
    return hmac.new(file_key, b"madoguchi backup key check", hashlib.sha256).digest()[:CHECK_BYTES]


def _nonce(index: int, last: bool) -> bytes:
    return struct.pack(">QxxxB", index, 1 if last else 0)


class _EncryptingWriter(io.RawIOBase):
    """A write-only stream that encrypts what is written to `out` chunk by chunk. The last chunk
    is held back until `finish`, which marks it last."""

    def __init__(self, out: IO[bytes], key: bytes):
        super().__init__()
        salt = os.urandom(SALT_BYTES)
        file_key = _file_key(key, salt)
        self._header = MAGIC + salt + _key_check(file_key)
        self._aead = AESGCM(file_key)
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK_BYTES:
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def finish(self) -> None:
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index, last), chunk, self._header)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1


def decrypt_file(path: Path, key: bytes, out: IO[bytes]) -> None:
    """Decrypt backup `path` into `out`. RestoreError `not_a_backup`, `wrong_key` or `tampered`;
    `out` then holds part of the plaintext, so the caller writes it nowhere it stays."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise RestoreError(f"cannot read {path}: {e.strerror}", code="not_a_backup") from None
    with f:
        header = f.read(HEADER_BYTES)
        if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
            raise RestoreError(f"{path} is not a madoguchi backup", code="not_a_backup")
        file_key = _file_key(key, header[len(MAGIC):len(MAGIC) + SALT_BYTES])
        if not hmac.compare_digest(_key_check(file_key), header[-CHECK_BYTES:]):
            raise RestoreError(f"{path} was made with another backup key (or its header was changed)",
                               code="wrong_key")
        aead, index = AESGCM(file_key), 0
        length = f.read(4)
        while True:
            if len(length) != 4:
                raise RestoreError(f"{path} is damaged or was changed (cut short)", code="tampered")
            (size,) = struct.unpack(">I", length)
            if not TAG_BYTES <= size <= CHUNK_BYTES + TAG_BYTES:
                raise RestoreError(f"{path} is damaged or was changed", code="tampered")
            sealed = f.read(size)
            length = f.read(4)
            last = not length
            try:
                out.write(aead.decrypt(_nonce(index, last), sealed, header))
            except InvalidTag:
                raise RestoreError(f"{path} is damaged or was changed", code="tampered") from None
            if last:
                return
            index += 1


# ---- making a backup -------------------------------------------------------------------

@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    removed: list[Path] = field(default_factory=list)


def backup_name(at: datetime) -> str:
    return f"madoguchi-{in_japan(at).strftime(_STAMP)}{SUFFIX}"


def snapshot(db_path: Path, into: Path) -> None:
    """SQLite's online backup of `db_path` into the new file `into` (0600), one self-contained
    file (journal mode DELETE). A reader under WAL: the server's writers go on meanwhile."""
    os.close(create_private(into))
    source = connect(db_path)
    target = sqlite3.connect(str(into))
    try:
        source.conn.backup(target)
        target.execute("PRAGMA journal_mode = DELETE")
        check = target.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        target.close()
        source.conn.close()
    if check != "ok":
        raise BackupError(f"the database copy failed SQLite's check: {check}", code="database_unreadable")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(db_file: Path, made_at: datetime, key_names: Iterable[str]) -> dict[str, Any]:
    """The manifest of a SQLite database copy: nothing in it is personal."""
    # Read only: the copy stays byte for byte as made (core.store.db.connect would make it WAL).
    db = sqlite_utils.Database(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True))
    try:
        heads = exchange_log.heads(db)
        migrations = applied_migrations(db)
    finally:
        db.conn.close()
    return _manifest("sqlite", made_at, migrations, heads, key_names,
                     {"sha256": _sha256(db_file), "size": db_file.stat().st_size})


def _manifest(engine: str, made_at: datetime, migrations: list[str], heads: dict[str, dict[str, Any]],
              key_names: Iterable[str], database: dict[str, Any]) -> dict[str, Any]:
    """`heads`: each town's exchange-log head by tenant id (one, 'default', but on a database
    PostgreSQL shares between towns); `exchange_log_head` is the default town's, as before towns."""
    return {"format": FORMAT, "engine": engine, "made_at": in_japan(made_at).isoformat(timespec="seconds"),
            "migrations": migrations, "database": database,
            "exchange_log_head": heads.get(DEFAULT_TENANT, {"seq": 0}), "exchange_log_heads": heads,
            "keys": sorted(key_names)}


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes | None = None, path: Path | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o600
    if path is not None:
        info.size = path.stat().st_size
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        assert data is not None
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _free_name(folder: Path, at: datetime) -> Path:
    path = folder / backup_name(at)
    n = 2
    while path.exists():    # two backups in one second
        path = folder / backup_name(at).replace(SUFFIX, f"-{n}{SUFFIX}")
        n += 1
    return path


def _unwritable(folder: Path, e: OSError) -> BackupError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError(f"the disk of {folder} is full: no backup was made", code="disk_full")
    return BackupError(f"cannot write the backup to {folder}: {e.strerror or e}", code="backup_folder_unwritable")


class _SqliteSource:
    """SQLite's online backup, made beside the database (on its disk, 0700), then into the tar."""

    def __init__(self, config):
        self.path = config.path(config.storage.path)
        if not self.path.exists():      # said before a backup key or folder is made
            raise BackupError(f"no database at {self.path}", code="database_unreadable")

    def add_to(self, tar: tarfile.TarFile, made_at: datetime, key_names: Iterable[str]) -> dict[str, Any]:
        try:
            staging = Path(tempfile.mkdtemp(prefix=".backup-", dir=self.path.parent))
        except OSError as e:
            raise _unwritable(self.path.parent, e) from None
        try:
            copy = staging / DB_NAME
            try:
                snapshot(self.path, copy)
            except sqlite3.Error as e:
                if "full" in str(e).lower():    # the copy is made beside the database, on its disk
                    raise _unwritable(self.path.parent, OSError(errno.ENOSPC, str(e))) from None
                raise BackupError(f"cannot read the database: {e}", code="database_unreadable") from None
            except OSError as e:
                raise _unwritable(self.path.parent, e) from None
            manifest = describe(copy, made_at, key_names)
            _tar_add(tar, DB_NAME, path=copy)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest


def pg_tool(name: str, major: int) -> Path:
    """Debian's `name` (pg_dump, pg_restore) of PostgreSQL `major`: a dump needs the server's version."""
    return PG_BIN_ROOT / str(major) / "bin" / name


def _child_env(password: str | None) -> dict[str, str]:
    """pg_dump's and pg_restore's environment: the password there only (never on their command
    line, which any user of the machine sees), libpq's own (.pgpass, PGPASSFILE) without one."""
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return env


def _connect_postgresql(url: str, password: str | None, error: type[MadoguchiError]):
    """A connection for the backup's snapshot or the restore's checks, without migrations."""
    import psycopg

    from core.store import postgres
    try:
        return postgres.connect(url, password, 10000)
    except psycopg.Error as e:
        reason = (str(e).strip().splitlines() or ["no answer"])[-1]
        raise error(f"cannot reach the PostgreSQL server of {postgres.redacted(url)}: {reason}",
                    code="database_unreachable") from None


def _server_major(db) -> int:
    return int(db.execute("SHOW server_version_num").fetchone()[0]) // 10000


def _tool_error(stream: IO[bytes]) -> str:
    """What pg_dump or pg_restore said went wrong: its first `error:` line (its `detail:` lines
    after it quote the query), else its last line."""
    stream.seek(0)
    lines = stream.read().decode("utf-8", "replace").strip().splitlines()
    return next((line for line in lines if "error:" in line), lines[-1] if lines else "no message")


def _start_pg_dump(command: list[str], env: dict[str, str], stderr: IO[bytes]) -> subprocess.Popen:
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env)


def _read_part(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end of the stream."""
    parts, left = [], size
    while left:
        block = stream.read(left)
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


class _PostgresqlSource:
    """`pg_dump --format=custom` of one snapshot, streamed into the tar in parts. The manifest's
    migrations and exchange-log head are read in the same snapshot (exported by a repeatable-read
    transaction that stays open until pg_dump is done), so they describe exactly what is dumped."""

    def __init__(self, config):
        from core.keys import database_password
        self.url = config.storage.url
        self.password = database_password(config)

    def add_to(self, tar: tarfile.TarFile, made_at: datetime, key_names: Iterable[str]) -> dict[str, Any]:
        db = _connect_postgresql(self.url, self.password, BackupError)
        try:
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot_id = db.execute("SELECT pg_export_snapshot()").fetchone()[0]
            major = _server_major(db)
            tool = pg_tool("pg_dump", major)
            if not tool.exists():
                raise BackupError(f"{tool} is missing: install postgresql-client-{major} (pg_dump of the server's"
                                  f" version, {major})", code="pg_dump_missing")
            heads, migrations = exchange_log.heads(db), applied_migrations(db)
            # A town's role dumps under its row-level security: the schema and its own rows.
            database = self._dump(tar, [str(tool), "--format=custom", "--no-password", "--enable-row-security",
                                        f"--snapshot={snapshot_id}",
                                        f"--dbname={self.url}"])
            database["server_version"] = major
        finally:
            db.conn.close()
        return _manifest("postgresql", made_at, migrations, heads, key_names, database)

    def _dump(self, tar: tarfile.TarFile, command: list[str]) -> dict[str, Any]:
        digest, size, index = hashlib.sha256(), 0, 0
        with tempfile.TemporaryFile() as errors:
            process = _start_pg_dump(command, _child_env(self.password), errors)
            try:
                assert process.stdout is not None
                while True:
                    part = _read_part(process.stdout, DUMP_PART_BYTES)
                    if not part and index:
                        break
                    digest.update(part)
                    size += len(part)
                    _tar_add(tar, f"{DUMP_NAME}.{index:06d}", data=part)
                    index += 1
                    if len(part) < DUMP_PART_BYTES:
                        break
                returncode = process.wait()
            finally:
                if process.poll() is None:      # the backup failed while pg_dump was writing
                    process.kill()
                    process.wait()
                if process.stdout is not None:
                    process.stdout.close()
            if returncode != 0:
                raise BackupError(f"pg_dump failed: {_tool_error(errors)}", code="database_unreadable")
        return {"sha256": digest.hexdigest(), "size": size, "parts": index}


def make_backup(config, *, folder: Path | None = None, now: datetime | None = None) -> BackupResult:
    """Back the database and keys up into `folder` (default [backup].folder), then rotate it.
    A failure leaves no file that looks like a backup (a `.partial` is removed)."""
    folder = Path(folder) if folder is not None else config.path(config.backup.folder)
    source = _PostgresqlSource(config) if config.storage.engine == "postgresql" else _SqliteSource(config)
    made_at = now or now_in_japan()
    try:
        key = backup_key(config)
    except OSError as e:
        raise BackupError(f"cannot make the backup key in {config.path(config.keys.dir)}: {e.strerror or e}",
                          code="no_backup_key") from None
    try:
        private_folder(folder)
    except OSError as e:
        raise _unwritable(folder, e) from None
    keys = {name: path for name, path in key_files(config).items() if name != BACKUP_KEY}
    final = _free_name(folder, made_at)
    partial = folder / f".{final.name}.partial"
    try:
        fd = create_private(partial)
        with os.fdopen(fd, "wb") as out:
            writer = _EncryptingWriter(out, key)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                manifest = source.add_to(tar, made_at, keys)
                _tar_add(tar, MANIFEST_NAME, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
                for name, path in sorted(keys.items()):
                    _tar_add(tar, f"{KEYS_FOLDER}/{name}", path=path)
            writer.finish()
            out.flush()
            os.fsync(out.fileno())
        os.rename(partial, final)
        _fsync_folder(folder)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise _unwritable(folder, e) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    removed = rotate(folder, keep_daily=config.backup.keep_daily, keep_weekly=config.backup.keep_weekly,
                     keep=final)
    return BackupResult(final, manifest, removed)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backups_in(folder: Path) -> list[tuple[datetime, Path]]:
    """The backups in `folder` by the time in their names, newest first."""
    found = []
    for path in Path(folder).iterdir() if Path(folder).is_dir() else []:
        m = _NAME.match(path.name)
        if m and path.is_file():
            at = datetime.strptime(m.group(1), _STAMP).replace(tzinfo=JAPAN)
            found.append((at, int(m.group(2) or 1), path))
    return [(at, path) for at, _, path in sorted(found, reverse=True)]


def rotate(folder: Path, *, keep_daily: int, keep_weekly: int, keep: Path | None = None) -> list[Path]:
    """Keep the newest backup of each of the newest `keep_daily` days and of each of the newest
    `keep_weekly` weeks (Japan's calendar, ISO weeks) that have one, and `keep`; delete the rest,
    and `.partial` files older than an hour (left by a crash). Both 0: keep every backup."""
    removed: list[Path] = []
    now = datetime.now().timestamp()
    for path in Path(folder).glob(f".*{SUFFIX}.partial"):
        try:
            if now - path.stat().st_mtime > _PARTIAL_MAX_AGE_SECONDS:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            pass
    if keep_daily <= 0 and keep_weekly <= 0:
        return removed
    days: set[Any] = set()
    weeks: set[Any] = set()
    for at, path in backups_in(folder):
        day, week = at.date(), at.isocalendar()[:2]
        kept = path == keep
        if day not in days and len(days) < keep_daily:
            days.add(day)
            kept = True
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            kept = True
        if not kept:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# ---- restoring -------------------------------------------------------------------------

@dataclass
class RestoreResult:
    folder: Path
    manifest: dict[str, Any]
    verification: exchange_log.Verification
    migrations_applied: list[str]
    # Made by a newer version: migrations this one does not have (its code may not read all it holds).
    migrations_unknown: list[str] = field(default_factory=list)
    database_url: str | None = None      # PostgreSQL: the database restored into
    # PostgreSQL: towns of the backup whose role this cluster lacks (their grants could not be given).
    towns_without_role: list[str] = field(default_factory=list)

    @property
    def database(self) -> Path:
        return self.folder / DB_NAME

    @property
    def keys_folder(self) -> Path:
        return self.folder / KEYS_FOLDER


def _extract(plain: Path, into: Path) -> dict[str, Any]:
    """Unpack the decrypted tar into `into` (files 0600, folders 0700); only the names a backup
    has are taken, a dump's parts joined in their order into one file. Returns the manifest."""
    manifest = None
    private_folder(into / KEYS_FOLDER)
    parts = 0
    with tarfile.open(plain, mode="r:") as tar:
        for member in tar:
            name = member.name
            part = _DUMP_PART.fullmatch(name)
            if name == MANIFEST_NAME:
                target = into / MANIFEST_NAME
            elif name == DB_NAME:
                target = into / DB_NAME
            elif part:
                if int(part.group(1)) != parts:
                    raise RestoreError(f"the backup's dump is out of order at {name!r}", code="not_a_backup")
                parts += 1
                target = into / DUMP_NAME
            elif re.fullmatch(KEYS_FOLDER + r"/[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
                target = into / name
            else:
                raise RestoreError(f"unexpected file in the backup: {name!r}", code="not_a_backup")
            source = tar.extractfile(member)
            if source is None:
                raise RestoreError(f"unexpected entry in the backup: {name!r}", code="not_a_backup")
            with os.fdopen(create_private(target, exclusive=not part), "ab" if part else "wb") as out:
                shutil.copyfileobj(source, out)
            if name == MANIFEST_NAME:
                manifest = json.loads(target.read_text(encoding="utf-8"))
    database = DUMP_NAME if (manifest or {}).get("engine") == "postgresql" else DB_NAME
    if manifest is None or not (into / database).exists():
        raise RestoreError("the backup has no manifest or no database", code="not_a_backup")
    return manifest


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


class _PostgresqlTarget:
    """The new, empty database a PostgreSQL backup is restored into (`--into-database URL`)."""

    def __init__(self, url: str, password: str | None):
        self.url, self.password = url, password

    def check_empty(self) -> None:
        """Refuse a database that holds any table, view or sequence of its own: a restore never
        mixes a backup into data, as the SQLite restore never replaces a folder's database unasked."""
        from core.store.postgres import redacted
        db = _connect_postgresql(self.url, self.password, RestoreError)
        try:
            (found,) = db.execute(
                "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
                " AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')").fetchone()
            self.major = _server_major(db)
        finally:
            db.conn.close()
        if found:
            raise RestoreError(f"the database {redacted(self.url)} is not empty: restore into a new, empty database"
                               " (createdb)", code="target_not_empty")

    def load(self, dump: Path) -> None:
        """pg_restore in one transaction: a failure leaves the database as empty as it was."""
        from core.store.postgres import redacted
        tool = pg_tool("pg_restore", self.major)
        if not tool.exists():
            raise RestoreError(f"{tool} is missing: install postgresql-client-{self.major}", code="pg_restore_missing")
        # --no-owner, --no-acl: the restoring user owns what it restores (the old server's roles may not exist here).
        command = [str(tool), "--no-password", "--single-transaction", "--exit-on-error", "--no-owner", "--no-acl",
                   f"--dbname={self.url}", str(dump)]
        with tempfile.TemporaryFile() as errors:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                  env=_child_env(self.password))
            if done.returncode != 0:
                raise RestoreError(f"pg_restore into {redacted(self.url)} failed: {_tool_error(errors)}",
                                   code="database_restore_failed")


def _migrate_and_verify(db: sqlite_utils.Database, manifest: dict[str, Any],
                        anchors: list[dict[str, Any]] | None) -> tuple[list[str], list[str], exchange_log.Verification]:
    """The restored database, opened (migrated): the migrations applied now, those unknown to
    this version, and each town's exchange log checked against its head in the backup (the
    default town's also against `anchors`)."""
    before = set(manifest.get("migrations", []))
    applied = [m for m in applied_migrations(db) if m not in before]
    unknown = sorted(before - known_migrations())
    heads = manifest.get("exchange_log_heads") or {DEFAULT_TENANT: manifest.get("exchange_log_head") or {"seq": 0}}
    by_town = {town: [head] for town, head in heads.items()}
    by_town.setdefault(DEFAULT_TENANT, []).extend(anchors or [])
    return applied, unknown, exchange_log.verify_every_town(db, by_town)


def restore_backup(backup: Path, into: Path, key: bytes, *, replace: bool = False,
                   anchors: list[dict[str, Any]] | None = None, into_database: str | None = None,
                   database_password: str | None = None) -> RestoreResult:
    """Decrypt `backup` into the new folder `into` (an empty one is fine; `replace` lets the
    database, keys and manifest of a non-empty one be replaced), apply the migrations and
    verify the exchange log against the backup's head (and `anchors`). A PostgreSQL backup
    goes into the new, empty database `into_database` (pg_restore), its keys and manifest into
    `into`. A wrong key or a changed file writes nothing. The caller registers every surface's
    tables first."""
    backup, into = Path(backup), Path(into)
    if into.exists() and not _is_empty_folder(into) and not replace:
        raise RestoreError(f"{into} exists and is not empty: restore into a new folder (or pass --replace)",
                           code="target_not_empty")
    if into.exists() and not into.is_dir():
        raise RestoreError(f"{into} is not a folder", code="target_not_empty")
    target = _PostgresqlTarget(into_database, database_password) if into_database else None
    if target is not None:
        target.check_empty()
    try:
        private_folder(into.parent)
        staging = Path(tempfile.mkdtemp(prefix=f".{into.name}.restoring-", dir=into.parent))
    except OSError as e:
        raise RestoreError(f"cannot write to {into.parent}: {e.strerror or e}", code="target_unwritable") from None
    try:
        plain = staging / "plain.tar"
        with os.fdopen(create_private(plain), "wb") as out:
            decrypt_file(backup, key, out)
        unpacked = private_folder(staging / "unpacked")
        manifest = _extract(plain, unpacked)
        if manifest.get("format") != FORMAT:
            raise RestoreError(f"backup format {manifest.get('format')!r} is not known to this version",
                               code="not_a_backup")
        plain.unlink()
        postgresql = manifest.get("engine") == "postgresql"
        if postgresql and target is None:
            raise RestoreError("a PostgreSQL backup restores into a new, empty database: give --into-database URL",
                               code="needs_database")
        if target is not None and not postgresql:
            raise RestoreError("a SQLite backup restores into a folder only (no --into-database)",
                               code="not_a_postgresql_backup")
        db_file = unpacked / (DUMP_NAME if postgresql else DB_NAME)
        expected = manifest.get("database", {})
        if _sha256(db_file) != expected.get("sha256") or db_file.stat().st_size != expected.get("size"):
            raise RestoreError("the database in the backup does not match its manifest", code="tampered")
        if target is not None:
            target.load(db_file)
            db_file.unlink()        # in the database now: no plaintext copy stays
            # Typed as SQLite's for the owners, whose calls postgres.Database answers alike.
            db = cast("sqlite_utils.Database", open_postgresql(target.url, target.password))
        else:
            db = open_database(db_file)
        try:
            applied, unknown, verification = _migrate_and_verify(db, manifest, anchors)
            # pg_restore --no-acl left the towns' roles without rights on the new database.
            towns_without_role = grant_every_town(db) if target is not None else []
        finally:
            db.conn.close()
        _place(unpacked, into)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise RestoreError(f"the disk of {into.parent} is full: nothing was restored", code="disk_full") from None
        raise RestoreError(f"cannot write to {into}: {e.strerror or e}", code="target_unwritable") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(into, manifest, verification, applied, unknown, into_database, towns_without_role)


def _place(unpacked: Path, into: Path) -> None:
    """Move the restored files to `into`: the whole folder when `into` is new, else item by item
    (the database's old -wal and -shm go first: they belong to the database replaced)."""
    if not into.exists():
        os.rename(unpacked, into)
        return
    for stale in (f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
        (into / stale).unlink(missing_ok=True)
    for item in unpacked.iterdir():
        target = into / item.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.rename(item, target)
