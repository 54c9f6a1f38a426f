"""PostgreSQL behind the part of sqlite_utils.Database the table-owning modules use.

The owners keep their SQL and their sqlite-utils migration sets; this module runs both on
PostgreSQL: `?` and `:name` placeholders become psycopg's, a table's `create()` column dict
becomes PostgreSQL DDL, and sqlite-utils' own `Migrations.apply` records what it applied in
the same `_sqlite_migrations` table as on SQLite. SQL that only SQLite speaks is not
translated here: its owner writes portable SQL (or asks `core.store.db` for the engine's form).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

_TYPES = {str: "TEXT", int: "BIGINT", float: "DOUBLE PRECISION", bytes: "BYTEA", bool: "BOOLEAN"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# SQLSTATEs of "cannot be written now" (503, not a bug): a lock not had within lock_timeout, a
# statement cancelled by statement_timeout, a read-only server (a standby, or
# default_transaction_read_only), a full disk, an I/O error, a server going away.
_UNWRITABLE_SQLSTATES = {"55P03", "57014", "25006", "53100", "58030", "57P01", "57P02", "57P03"}


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """SQLite's `?` and `:name` placeholders as psycopg's `%s` and `%(name)s`, a literal `%`
    doubled; quoted strings and identifiers and PostgreSQL's `::` casts are left alone."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:   # '' inside a string
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i:end + 1].replace("%", "%%"))
            i = end + 1
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        elif c == ":" and i + 1 < n and sql[i + 1] == ":":
            out.append("::")
            i += 2
        elif c == ":" and (m := _IDENTIFIER.match(sql, i + 1)):
            out.append(f"%({m.group()})s")
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def is_unwritable(exc: BaseException) -> bool:
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return True     # no server answered (refused, gone, authentication never reached)
    return isinstance(exc, psycopg.Error) and exc.sqlstate in _UNWRITABLE_SQLSTATES


class Cursor:
    """A psycopg cursor as sqlite3's: tuples, rowcount, and lastrowid (the session's last
    sequence value, asked for only when read)."""

    def __init__(self, cursor: psycopg.Cursor):
        self._cursor = cursor

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self):
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self):
        return self._cursor.description

    @property
    def lastrowid(self) -> int | None:
        row = self._cursor.connection.execute("SELECT lastval()").fetchone()
        return row[0] if row else None


class Connection:
    """What callers use of sqlite3.Connection: execute, executemany, in_transaction, rollback, close. In
    autocommit mode, like `core.store.db.connect`'s: transactions are explicit."""

    def __init__(self, conn: psycopg.Connection):
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Cursor:
        return Cursor(self.raw.execute(to_pyformat(sql), params if params is not None else ()))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any] | Mapping[str, Any]]) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(to_pyformat(sql), rows)

    @property
    def in_transaction(self) -> bool:
        """False on a broken connection too: the server ended its transaction with it."""
        return self.raw.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR,
                                                    TransactionStatus.ACTIVE)

    @property
    def broken(self) -> bool:
        """The server went away (a restart, a failover): this connection will never work again."""
        return self.raw.closed or self.raw.broken

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class Table:
    """A table's sqlite-utils methods that the owners' migrations and queries use."""

    def __init__(self, db: Database, name: str):
        self.db, self.name = db, name

    def exists(self) -> bool:
        return self.db.execute("SELECT to_regclass(?) IS NOT NULL", [_quoted(self.name)]).fetchone()[0]

    @property
    def pks(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(? AS regclass) AND i.indisprimary"
            " ORDER BY array_position(i.indkey, a.attnum)", [_quoted(self.name)])]

    @property
    def count(self) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM {_quoted(self.name)}").fetchone()[0]

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        return self.rows_where()

    def rows_where(self, where: str | None = None, where_args: Sequence[Any] | Mapping[str, Any] = (),
                   order_by: str | None = None) -> Iterator[dict[str, Any]]:
        sql = f"SELECT * FROM {_quoted(self.name)}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            # sqlite-utils orders its migrations by rowid: here the integer key it was made with.
            sql += f" ORDER BY {', '.join(self.pks) if order_by == 'rowid' else order_by}"
        return self.db.query(sql, where_args)

    def create(self, columns: Mapping[str, type], pk: str | Sequence[str] | None = None, *,
               not_null: Sequence[str] = (), defaults: Mapping[str, Any] | None = None,
               foreign_keys: Sequence[tuple[str, str, str]] = ()) -> Table:
        """sqlite-utils' create(): an integer single-column key counts up by itself, as SQLite's
        INTEGER PRIMARY KEY (rowid) does, and still takes a value given."""
        pks = [pk] if isinstance(pk, str) else list(pk or [])
        defaults = defaults or {}
        lines = []
        for name, kind in columns.items():
            line = f"{_quoted(name)} {_TYPES[kind]}"
            if pks == [name] and kind is int:
                line += " GENERATED BY DEFAULT AS IDENTITY"
            if name in not_null:
                line += " NOT NULL"
            if name in defaults:
                line += f" DEFAULT {literal(defaults[name])}"
            lines.append(line)
        if pks:
            lines.append(f"PRIMARY KEY ({', '.join(map(_quoted, pks))})")
        for column, other, other_column in foreign_keys:
            lines.append(f"FOREIGN KEY ({_quoted(column)}) REFERENCES {_quoted(other)} ({_quoted(other_column)})")
        self.db.execute(f"CREATE TABLE {_quoted(self.name)} (\n   " + ",\n   ".join(lines) + "\n)")
        return self

    def create_index(self, columns: Sequence[str], *, unique: bool = False) -> Table:
        name = f"idx_{self.name}_{'_'.join(columns)}"
        self.db.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {_quoted(name)} ON {_quoted(self.name)}"
                        f" ({', '.join(map(_quoted, columns))})")
        return self

    def add_column(self, name: str, kind: type) -> Table:
        self.db.execute(f"ALTER TABLE {_quoted(self.name)} ADD COLUMN {_quoted(name)} {_TYPES[kind]}")
        return self

    def transform(self, *, pk: str | Sequence[str] | None = None,
                  foreign_keys: Sequence[tuple[str | Sequence[str], str, str | Sequence[str]]] | None = None) -> Table:
        """The part of sqlite-utils' transform() the owners use, in place: `pk` a new primary key,
        `foreign_keys` (columns, other table, other columns) replacing every foreign key."""
        table = _quoted(self.name)

        def constraints(kind: str) -> list[str]:
            return [r[0] for r in self.db.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = CAST(? AS regclass) AND contype = ?",
                [table, kind])]

        def listed(columns: str | Sequence[str]) -> str:
            return ", ".join(map(_quoted, [columns] if isinstance(columns, str) else columns))

        if foreign_keys is not None:
            for name in constraints("f"):
                self.db.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_quoted(name)}")
        if pk is not None:
            changes = [f"DROP CONSTRAINT {_quoted(name)}" for name in constraints("p")]
            self.db.execute(f"ALTER TABLE {table} {', '.join([*changes, f'ADD PRIMARY KEY ({listed(pk)})'])}")
        for columns, other, other_columns in foreign_keys or ():
            self.db.execute(f"ALTER TABLE {table} ADD FOREIGN KEY ({listed(columns)})"
                            f" REFERENCES {_quoted(other)} ({listed(other_columns)})")
        return self

    def insert(self, record: Mapping[str, Any]) -> Table:
        names = list(record)
        self.db.execute(f"INSERT INTO {_quoted(self.name)} ({', '.join(map(_quoted, names))})"
                        f" VALUES ({', '.join('?' * len(names))})", list(record.values()))
        return self


class Database:
    """A PostgreSQL database with sqlite_utils.Database's surface as the owners use it."""

    engine = "postgresql"

    def __init__(self, conn: psycopg.Connection, url: str):
        self.conn = Connection(conn)
        self.url = url

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        with self.conn.raw.cursor(row_factory=dict_row) as cur:
            cur.execute(to_pyformat(sql), params if params is not None else ())
            rows = cur.fetchall() if cur.description else []
        yield from rows

    def table(self, name: str) -> Table:
        return Table(self, name)

    __getitem__ = table

    def table_names(self) -> list[str]:
        return [r[0] for r in self.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        """A transaction, or a savepoint inside one (sqlite-utils' atomic())."""
        if not self.conn.in_transaction:
            self.execute("BEGIN")
            try:
                yield self
            except BaseException:
                self.execute("ROLLBACK")
                raise
            self.execute("COMMIT")
            return
        self.execute("SAVEPOINT atomic")
        try:
            yield self
        except BaseException:
            self.execute("ROLLBACK TO SAVEPOINT atomic")
            self.execute("RELEASE SAVEPOINT atomic")
            raise
        self.execute("RELEASE SAVEPOINT atomic")


def connect(url: str, password: str | None, lock_timeout_ms: int) -> Database:
    """One connection (autocommit; transactions explicit). A writer waits `lock_timeout_ms`
    for another's row or advisory lock, as SQLite's busy_timeout, then fails as unwritable."""
    conninfo = make_conninfo(url, password=password or None,   # None: libpq's own (a socket, .pgpass)
                             options=f"-c lock_timeout={int(lock_timeout_ms)} -c TimeZone=UTC")
    conn = psycopg.connect(conninfo, autocommit=True)
    return Database(conn, url)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"no default of type {type(value).__name__}")
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)
