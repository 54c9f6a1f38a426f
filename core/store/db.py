"""Opening the database, WAL, write transactions and migrations."""
from __future__ import annotations

import errno
import importlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, cast

import sqlite_utils

from core.errors import MadoguchiError
from core.private_files import create_private, private_folder, tighten

if TYPE_CHECKING:
    from core.store import postgres

# Either engine's database: the owners call the same methods on both.
Store: TypeAlias = "sqlite_utils.Database | postgres.Database"

# Core's modules that own tables, in the order their migrations apply. Each exposes
# `migrations`, a sqlite-utils Migrations set named after the module. A surface adds its own
# with `register_migrations` (core names no surface).
CORE_MIGRATIONS = (
    "core.store.applications",
    "core.sealed",
    "core.exchange_log",
    "core.outbox",
    "core.users",
    "core.signin_throttle",
    "core.admin_log",
    "core.help_calls",
    "core.satisfaction",
    "core.calling",
    "core.progress",
)
_registered: list[str] = []


def register_migrations(*module_paths: str) -> None:
    """Add a surface's table-owning modules (by module path, imported when a database is
    opened). Each surface package calls this in its `__init__`, so its web app, its CLI
    commands and its tests all find its tables; `madoguchi init` imports every surface."""
    for path in module_paths:
        if path not in _registered:
            _registered.append(path)


def migration_modules() -> list[str]:
    return [*CORE_MIGRATIONS, *_registered]


def connect(path: str | Path, busy_timeout_ms: int = 10000) -> sqlite_utils.Database:
    """One connection. Autocommit mode: transactions are explicit (see `write`)."""
    path = Path(path)
    if str(path) != ":memory:":
        # Personal data: 0600 in a 0700 folder. SQLite creates a new file 0644 and gives the
        # -wal and -shm files the database file's mode, so the file is made here first.
        try:
            private_folder(path.parent)
            if not path.exists():
                os.close(create_private(path, exclusive=False))
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                tighten(p)
        except PermissionError as e:
            # The service's user may not write the data folder: what SQLite says for that.
            raise sqlite3.OperationalError(f"unable to open database file ({e.strerror})") from e
    conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    # WAL with synchronous=NORMAL is durable against application crashes (kill -9);
    # only a power cut can lose the last transactions, and never corrupts the file.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


def engine_of(db: Store) -> str:
    """"sqlite" or "postgresql": for the owners that keep a statement in each engine's SQL."""
    return getattr(db, "engine", "sqlite")


def is_postgresql(db: Store) -> bool:
    return engine_of(db) == "postgresql"


def json_list(db: Store, param: str = "?") -> str:
    """A table function of the values of the JSON array in `param` (a column `value`):
    `... IN (SELECT value FROM {json_list(db)})`."""
    if is_postgresql(db):
        return f"json_array_elements_text(CAST({param} AS json))"
    return f"json_each({param})"


def lock(db: Store, name: str) -> None:
    """Inside a write transaction, make the other writers of `name` (a chain, a counter) wait
    until it ends. SQLite's BEGIN IMMEDIATE already serializes every writer; PostgreSQL takes a
    transaction-level advisory lock on the name's hash."""
    if is_postgresql(db):
        if not db.conn.in_transaction:
            raise RuntimeError("lock() outside a write transaction")
        db.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [name])


@contextmanager
def write(db: Store) -> Iterator[Store]:
    """A write transaction. BEGIN IMMEDIATE takes the write lock up front, so concurrent
    writers wait for each other (busy_timeout) instead of failing on lock upgrade.
    Nested use becomes a savepoint."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    # PostgreSQL has no database-wide write lock: its writers wait on the rows (and the
    # advisory locks of core.store.db.lock) they touch instead.
    db.conn.execute("BEGIN" if is_postgresql(db) else "BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


# Per database file, the modules whose migrations this process has applied to it.
_migrated: dict[str, set[str]] = {}
_migrate_lock = threading.Lock()


class SchemaNotOwned(MadoguchiError):
    code = "schema_not_owned"


def migrate(db: Store, modules: list[str] | None = None) -> None:
    from core.store import tenancy
    try:
        for name in migration_modules() if modules is None else modules:
            importlib.import_module(name).migrations.apply(db)
        tenancy.ensure(db)   # after every owner: no table, however new, lacks its tenant and policy
    except Exception as e:
        if getattr(e, "sqlstate", None) != "42501":   # insufficient_privilege: a tenant's role
            raise
        raise SchemaNotOwned("this database role may not change the tables (a tenant's role reads and writes"
                             " rows only): run `madoguchi init` with the database owner's config first") from e


def applied_migrations(db: Store) -> list[str]:
    """The migrations a database has had, as "module:name" in the order applied: its schema version."""
    if not db["_sqlite_migrations"].exists():
        return []
    return [f"{r['migration_set']}:{r['name']}" for r in db.query(
        "SELECT migration_set, name FROM _sqlite_migrations ORDER BY id")]


def known_migrations() -> set[str]:
    """Every migration this version has, as "module:name" (sqlite-utils keeps them in `_migrations`)."""
    return {f"{name}:{m.name}" for name in migration_modules()
            for m in importlib.import_module(name).migrations._migrations}


def _migrate_once(db: Store, key: str) -> None:
    """Apply the migrations this process has not applied to database `key` yet (again when a
    surface registered more since), inside a write transaction (on PostgreSQL also under an
    advisory lock), so two processes starting together don't both migrate."""
    if set(migration_modules()) <= _migrated.get(key, set()):
        return
    with _migrate_lock:
        done = _migrated.setdefault(key, set())
        pending = [m for m in migration_modules() if m not in done]
        if pending:
            with write(db):
                lock(db, "madoguchi.migrations")
                migrate(db, pending)
            done.update(pending)


def open_database(path: str | Path, busy_timeout_ms: int = 10000) -> sqlite_utils.Database:
    """Connect, and apply pending migrations once per file per process."""
    db = connect(path, busy_timeout_ms)
    _migrate_once(db, str(Path(path).resolve()))
    return db


def open_postgresql(url: str, password: str | None = None, lock_timeout_ms: int = 10000) -> postgres.Database:
    """Connect to PostgreSQL ([storage].engine = "postgresql") and apply pending migrations
    once per database per process, as `open_database`. The owners' migration sets run
    unchanged (core.store.postgres gives them the sqlite-utils calls they make)."""
    from core.store import postgres

    db = postgres.connect(url, password, lock_timeout_ms)
    _migrate_once(db, "postgresql:" + postgres.redacted(url))
    return db


def open_from_config(config, *, for_request: bool = False) -> sqlite_utils.Database:
    """for_request: a web request's connection, which waits only [storage].request_busy_timeout_ms
    for another writer's lock (then the request answers 503) instead of busy_timeout_ms."""
    timeout = config.storage.busy_timeout_ms
    if for_request:
        timeout = min(timeout, config.storage.request_busy_timeout_ms)
    if config.storage.engine == "postgresql":
        from core.keys import database_password
        # Typed as SQLite's for the owners, whose calls postgres.Database answers alike.
        return cast("sqlite_utils.Database", open_postgresql(config.storage.url, database_password(config), timeout))
    return open_database(config.path(config.storage.path), timeout)


def dropped(db: Store) -> bool:
    """Whether the server dropped this connection (PostgreSQL's restart, failover or a terminated
    backend): it will never work again. A SQLite connection is never dropped."""
    return bool(getattr(db.conn, "broken", False))


def reopen_if_dropped(db: Store, config, *, for_request: bool = False) -> Store:
    """`db`, or a new connection in its place when the server dropped it."""
    if not dropped(db):
        return db
    try:
        db.conn.close()
    except Exception:   # noqa: BLE001 - already gone
        pass
    return open_from_config(config, for_request=for_request)


class KeptConnection:
    """A background service's connection, kept between its runs and opened again when the server
    dropped it: `run(job)` calls `job(db)`; a run that fails because its connection was dropped
    (found only on use) runs once more on a new one, so a restart or failover costs no run."""

    def __init__(self, config):
        self.config = config
        self.db: Store | None = None

    def get(self) -> Store:
        self.db = open_from_config(self.config) if self.db is None else reopen_if_dropped(self.db, self.config)
        return self.db

    def run(self, job):
        db = self.get()
        try:
            return job(db)
        except Exception:
            if not dropped(db):
                raise
        return job(self.get())

    def close(self) -> None:
        if self.db is not None:
            self.db.conn.close()
            self.db = None


# What SQLite says when the database cannot be written now: another process holds the write
# lock past the busy timeout, the file or its folder is read-only, the disk failed or is full.
_UNWRITABLE_MESSAGES = ("database is locked", "database is busy", "readonly database", "disk i/o error",
                        "database or disk is full", "unable to open database file")


# What the operating system says when our data folder cannot be written: read-only, full, over
# quota, failing (an error of the data folder's own files, e.g. the database's or a key's).
_UNWRITABLE_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO)


def is_unwritable(exc: BaseException) -> bool:
    """Whether `exc` says the database (or the data folder it lives in) cannot be written now:
    a 503, not a bug."""
    if isinstance(exc, sqlite3.OperationalError):
        return any(m in str(exc).lower() for m in _UNWRITABLE_MESSAGES)
    if type(exc).__module__.startswith("psycopg"):
        from core.store import postgres
        return postgres.is_unwritable(exc)
    return isinstance(exc, OSError) and exc.errno in _UNWRITABLE_ERRNOS


def can_write(db: Store, timeout_ms: int = 100) -> bool:
    """Whether a write could happen now, cheaply: take the write lock within `timeout_ms`, write
    the header's user_version unchanged (BEGIN IMMEDIATE alone succeeds on a read-only file),
    and roll back."""
    conn = db.conn
    if conn.in_transaction:
        return True
    if is_postgresql(db):
        return _postgresql_can_write(db, timeout_ms)
    before = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"PRAGMA user_version = {int(version)}")
        return True
    except sqlite3.OperationalError as e:
        if is_unwritable(e):
            return False
        raise
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.execute(f"PRAGMA busy_timeout = {int(before)}")


def _postgresql_can_write(db: Store, timeout_ms: int) -> bool:
    """Whether a transaction begun now may write (not on a standby, nor on a server or database
    set read-only), asked within `timeout_ms`; there is no database-wide lock to try for."""
    try:
        db.execute("BEGIN")
        db.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
        return not db.execute("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
                              ).fetchone()[0]
    except Exception as e:
        if is_unwritable(e):
            return False
        raise
    finally:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
