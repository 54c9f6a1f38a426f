"""The storage engines a test runs on, and a throwaway PostgreSQL server for the tests.

A module marked `pytestmark = pytest.mark.engines` runs each of its tests on every engine of
MADOGUCHI_TEST_ENGINES (or `--engines`), "sqlite" by default; its `config`, `config_file`,
`overrides` and `db` then use that engine. Elsewhere `engine` is "sqlite", unless
MADOGUCHI_TEST_ENGINES_EVERYWHERE=1: then every test that uses storage runs on each engine.
MADOGUCHI_TEST_ENGINE=postgresql is the whole suite on that one engine (everywhere, that engine
only); `--storage-tests-only` leaves out the tests that use no storage (a second engine's pass).

The PostgreSQL server is Debian's postgresql-15, one cluster per test session in a folder of
its own, run as the postgres user when the tests run as root (PostgreSQL refuses root),
reached by its own unix socket only; each test gets a new database copied from a migrated
template.
"""
from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from counter.forwarding import _pid_alive as pid_alive  # the one check of a process by its id
from tests.helpers import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ENGINES = ("sqlite", "postgresql")


def pytest_addoption(parser):
    parser.addoption("--engines", default=None,
                     help="storage engines of the tests marked `engines`, e.g. sqlite,postgresql "
                          "(default: $MADOGUCHI_TEST_ENGINE, $MADOGUCHI_TEST_ENGINES or sqlite)")
    parser.addoption("--storage-tests-only", action="store_true",
                     help="run only the tests whose storage engine is chosen (they use config, db…)")


def pytest_configure(config):
    config.addinivalue_line("markers", "engines: run on every engine of --engines / MADOGUCHI_TEST_ENGINES")
    config.addinivalue_line("markers", "sqlite_only(reason): a test of SQLite itself (its file, WAL, its backup):"
                                       " skipped on PostgreSQL, saying why")


def selected_engines(config) -> list[str]:
    chosen = (config.getoption("--engines") or os.environ.get("MADOGUCHI_TEST_ENGINE")
              or os.environ.get("MADOGUCHI_TEST_ENGINES") or "sqlite")
    names = [e.strip() for e in chosen.split(",") if e.strip()]
    unknown = set(names) - set(ENGINES)
    if unknown:
        raise pytest.UsageError(f"unknown storage engine(s): {', '.join(sorted(unknown))}")
    return names


def everywhere() -> bool:
    """Every test that uses storage runs on the chosen engines, not only those marked `engines`."""
    return os.environ.get("MADOGUCHI_TEST_ENGINES_EVERYWHERE") == "1" or bool(os.environ.get("MADOGUCHI_TEST_ENGINE"))


def pytest_generate_tests(metafunc):
    if "engine" in metafunc.fixturenames and (everywhere() or metafunc.definition.get_closest_marker("engines")):
        metafunc.parametrize("engine", selected_engines(metafunc.config), indirect=True)


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--storage-tests-only"):
        return
    uses = {id(item) for item in items if "engine" in getattr(getattr(item, "callspec", None), "params", {})
            or "module_storage_overrides" in getattr(item, "fixturenames", ())}
    config.hook.pytest_deselected(items=[item for item in items if id(item) not in uses])
    items[:] = [item for item in items if id(item) in uses]


@pytest.fixture
def engine(request) -> str:
    name = getattr(request, "param", "sqlite")
    sqlite_only = request.node.get_closest_marker("sqlite_only")
    if name != "sqlite" and sqlite_only:
        pytest.skip(f"SQLite only: {sqlite_only.args[0]}")
    return name


class PostgresServer:
    """initdb, pg_ctl start on a free port with a socket folder of its own; stop() removes it all.
    `durable`: fsync and synchronous commits as a real server has them (bench/postgresql.py).
    `standby_of`: a streaming-replication standby of that server, from its base backup, named
    `name` to it (application_name, for synchronous_standby_names)."""

    def __init__(self, durable: bool = False, standby_of: PostgresServer | None = None, name: str = "madoguchi"):
        if not (PG_BIN / "initdb").exists():
            pytest.skip("PostgreSQL 15 is not installed (scripts/install-system-packages test)")
        self.as_root = os.geteuid() == 0
        remove_abandoned_clusters(self)
        # The folder names its session's process, so a later session can tell it was abandoned.
        self.folder = Path(tempfile.mkdtemp(prefix=f"{CLUSTER_PREFIX}{os.getpid()}-"))
        self.data, self.socket = self.folder / "data", self.folder / "socket"
        self.socket.mkdir()
        self.port = free_port()
        if self.as_root:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.socket, "postgres")
        if standby_of is None:
            self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                              "--locale=C.UTF-8", "--no-sync")
        else:   # -R: standby.signal and primary_conninfo, so it starts as the primary's standby
            self._as_postgres(PG_BIN / "pg_basebackup", "-D", self.data, "-R", "-X", "stream", "-h",
                              standby_of.socket, "-p", standby_of.port, "-U", "postgres")
        # Durability is not what most tests test: no fsync makes each CREATE DATABASE fast.
        options = (f"-k {self.socket} -p {self.port} -c listen_addresses='' -c max_connections=200"
                   f" -c cluster_name={name}")
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-w",
                          "-o", options, "start")
        self._names = itertools.count()
        self._stopped, self.owner = False, os.getpid()
        atexit.register(self.stop)    # also when the session ends without its fixtures' teardown

    def _as_postgres(self, *args) -> None:
        command = [*(["runuser", "-u", "postgres", "--"] if self.as_root else []), *map(str, args)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def url(self, database: str) -> str:
        return f"postgresql:///{database}?host={self.socket}&port={self.port}&user=postgres"

    def admin(self, sql: str) -> list[tuple]:
        import psycopg
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def crash(self) -> None:
        """Stop at once, as a power cut or a killed server would (no shutdown checkpoint)."""
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def promote(self) -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-w", "promote")

    def new_database(self, template: str = "template0") -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" LC_COLLATE \'C\' LC_CTYPE \'C.UTF-8\'')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._stopped or os.getpid() != self.owner:    # a forked child's exit stops nothing
            return
        self._stopped = True
        stop_cluster(self, self.folder)


CLUSTER_PREFIX = "madoguchi-pg-"


def stop_cluster(server: PostgresServer, folder: Path) -> None:
    if (folder / "data" / "postmaster.pid").exists():
        server._as_postgres(PG_BIN / "pg_ctl", "-D", folder / "data", "-m", "immediate", "-w", "stop")
    shutil.rmtree(folder, ignore_errors=True)


def remove_abandoned_clusters(server: PostgresServer) -> None:
    """Stop and remove the clusters of sessions that were killed (their process is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{CLUSTER_PREFIX}*-*"):
        pid = folder.name[len(CLUSTER_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            stop_cluster(server, folder)
        except subprocess.CalledProcessError:
            pass    # another session's to remove, or already stopped

    return True


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    try:
        # Every table every surface has, once: each test's database is a copy of it.
        import kiosk  # noqa: F401  (registers the surfaces' tables)
        import prereg  # noqa: F401
        from core.store.db import open_postgresql
        server.template = server.new_database()
        open_postgresql(server.url(server.template)).conn.close()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A new, migrated database of its own for this test."""
    name = postgres_server.new_database(postgres_server.template)
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def module_storage_overrides(request) -> dict:
    """[storage] for a module-scoped fixture's own config (one database for the module): PostgreSQL
    when the whole suite runs on it (MADOGUCHI_TEST_ENGINE=postgresql), else the test's SQLite file."""
    if os.environ.get("MADOGUCHI_TEST_ENGINE") != "postgresql":
        return {}
    server = request.getfixturevalue("postgres_server")
    name = server.new_database(server.template)
    request.addfinalizer(lambda: server.drop_database(name))
    return {"engine": "postgresql", "url": server.url(name)}


@pytest.fixture
def storage_overrides(engine, request) -> dict:
    """[storage] for this test's engine (an empty table for SQLite: its file is the test's own)."""
    if engine == "postgresql":
        return {"engine": "postgresql", "url": request.getfixturevalue("postgres_url")}
    return {}
