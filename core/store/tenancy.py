"""Tenants (municipalities) sharing one PostgreSQL database, kept apart by row-level security.

One process serves one tenant. Its tenant is not something the process says: it is the
database role it logs in as, mapped in `madoguchi_tenants` (role_name → tenant_id), and read
by the SQL function `madoguchi_tenant()` ('default' for a role not mapped: the owner that runs
migrations, and a one-town installation). Every table has `tenant_id TEXT NOT NULL DEFAULT
madoguchi_tenant()` and a policy that shows and accepts only the rows of the role's tenant;
the tables' owner (the migrating role) bypasses it, tenant roles get DML grants only.

SQLite stays single-tenant: its tables get `tenant_id DEFAULT 'default'`, so the owners' SQL
(an insert, an ON CONFLICT on a key with the tenant) is the same on both engines; `own_rows`
is the one condition that differs.

`ensure(db)` runs after the owners' migrations (core.store.db._migrate_once) and puts the
column and the policy on every table that lacks them, so a table a later migration adds can
never be forgotten.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from core.errors import MadoguchiError
from core.store.db import Store, is_postgresql, open_from_config, write

if TYPE_CHECKING:
    import sqlite_utils

    from core.store import postgres

DEFAULT_TENANT = "default"
COLUMN = "tenant_id"
POLICY = "madoguchi_tenant"
TENANTS_TABLE = "madoguchi_tenants"
# Shared by every tenant: which migrations ran (tenant roles may read it, never write it), and
# the mapping itself (each role sees its own row).
SHARED_TABLES = ("_sqlite_migrations", TENANTS_TABLE)
TENANT_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ROLE_PREFIX = "madoguchi_t_"


class TenantError(MadoguchiError):
    code = "tenant_error"


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    role_name: str


def current_tenant(db: Store) -> str:
    """The tenant this connection's rows belong to (its role's, on PostgreSQL)."""
    cached = getattr(db, "_madoguchi_tenant", None)
    if cached is None:
        cached = db.execute("SELECT madoguchi_tenant()").fetchone()[0] if is_postgresql(db) else DEFAULT_TENANT
        setattr(db, "_madoguchi_tenant", cached)   # noqa: B010 - a connection keeps its role
    return cached


def own_rows(db: Store, alias: str = "") -> str:
    """SQL that is true of this connection's tenant's rows: for queries that must keep to them
    also on the owner's role, which row-level security lets see every row (or of the town the
    owner reads as, `reading_as`)."""
    column = f"{alias}.{COLUMN}" if alias else COLUMN
    reading = getattr(db, "_madoguchi_reading_as", None)
    if reading is not None:     # checked by reading_as: an id is [a-z0-9_] only
        return f"{column} = '{reading}'"
    return f"{column} = madoguchi_tenant()" if is_postgresql(db) else f"{column} = '{DEFAULT_TENANT}'"


@contextmanager
def reading_as(db: Store, tenant_id: str) -> Iterator[None]:
    """Let the owner's role read one town's rows through the owners' queries that keep to a
    tenant (a backup's chain heads, a restore's verification of each town's chain). A town's
    own role still sees only its rows: row-level security does not ask this."""
    if tenant_id != DEFAULT_TENANT and not TENANT_ID_RE.match(tenant_id or ""):
        raise TenantError(f"not a tenant id: {tenant_id!r}")
    before = getattr(db, "_madoguchi_reading_as", None)
    setattr(db, "_madoguchi_reading_as", tenant_id)   # noqa: B010 - read by own_rows
    try:
        yield
    finally:
        setattr(db, "_madoguchi_reading_as", before)  # noqa: B010


def tenant_ids(db: Store) -> list[str]:
    """Every town with rows in this database as its role sees it: 'default' and, for the owner
    on PostgreSQL, each mapped town (a town's own role sees only its own mapping)."""
    if not is_postgresql(db):
        return [DEFAULT_TENANT]
    mapped = [r[0] for r in db.execute(f"SELECT {COLUMN} FROM {_schema(db)}.{TENANTS_TABLE} ORDER BY {COLUMN}")]
    return [DEFAULT_TENANT, *mapped]


def add_tenant_column(db: Store, table: str) -> None:
    """Give `table` its tenant column (existing rows are 'default's), if it has none."""
    if COLUMN in _columns(db, table):
        return
    default = f"{_schema(db)}.madoguchi_tenant()" if is_postgresql(db) else f"'{DEFAULT_TENANT}'"
    db.execute(f'ALTER TABLE "{table}" ADD COLUMN {COLUMN} TEXT NOT NULL DEFAULT {default}')


def key_with_tenant(db: Store, table: str, *columns: str) -> None:
    """Make (tenant_id, *columns) the primary key of `table`, whose key is a name or a day a city
    chooses: without the tenant one town's row would block (and reveal) another's."""
    if is_postgresql(db):
        ensure_function(db)
    add_tenant_column(db, table)
    db.table(table).transform(pk=(COLUMN, *columns))


def ensure(db: Store) -> None:
    """The tenant column on every table; on PostgreSQL also the function, the mapping table,
    row-level security and the policy. Idempotent, and read-only when nothing is missing (so a
    tenant's process, which may not change the schema, runs it too)."""
    if is_postgresql(db):
        ensure_function(db)
        for table, has_column, secured, has_policy in db.execute(
                "SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
                " AND a.attname = ? AND NOT a.attisdropped), c.relrowsecurity,"
                " EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = ?)"
                " FROM pg_class c WHERE c.relnamespace = CAST(current_schema() AS regnamespace)"
                " AND c.relkind IN ('r', 'p') ORDER BY c.relname", [COLUMN, POLICY]).fetchall():
            if table in SHARED_TABLES:
                continue
            if not has_column:
                add_tenant_column(db, table)
            if not secured:
                db.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
            if not has_policy:
                tenant = f"{_schema(db)}.madoguchi_tenant()"
                db.execute(f'CREATE POLICY {POLICY} ON "{table}" USING ({COLUMN} = {tenant})'
                           f" WITH CHECK ({COLUMN} = {tenant})")
        return
    for table in db.table_names():
        if table not in SHARED_TABLES and not table.startswith("sqlite_"):
            add_tenant_column(db, table)


def ensure_function(db: Store) -> None:
    """`madoguchi_tenants` and `madoguchi_tenant()`, made once by the owner. The function's body
    names the table by its schema, bound when it is made (BEGIN ATOMIC), so a role's own search
    path or temporary table cannot stand in for the mapping."""
    schema = _schema(db)
    made = db.execute("SELECT to_regclass(?) IS NOT NULL, to_regprocedure(?) IS NOT NULL",
                      [f"{schema}.{TENANTS_TABLE}", f"{schema}.madoguchi_tenant()"]).fetchone()
    if not made[0]:
        db.execute(f"CREATE TABLE {schema}.{TENANTS_TABLE} (role_name TEXT PRIMARY KEY,"
                   f" {COLUMN} TEXT UNIQUE NOT NULL, name TEXT)")
        db.execute(f"ALTER TABLE {schema}.{TENANTS_TABLE} ENABLE ROW LEVEL SECURITY")
        # A tenant's role reads its own mapping (the function runs as the caller), no other.
        db.execute(f"CREATE POLICY own_role ON {schema}.{TENANTS_TABLE} USING (role_name = current_user)")
    if not made[1]:
        db.execute(f"CREATE FUNCTION {schema}.madoguchi_tenant() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE"
                   f" BEGIN ATOMIC SELECT COALESCE((SELECT t.{COLUMN} FROM {schema}.{TENANTS_TABLE} t"
                   f" WHERE t.role_name = current_user), '{DEFAULT_TENANT}'); END")


def check_new_tenant(db: Store, tenant_id: str) -> str:
    """The role a new tenant `tenant_id` would log in as; TenantError when the id is not one, or is taken."""
    _require_postgresql(db)
    if not TENANT_ID_RE.match(tenant_id or "") or tenant_id == DEFAULT_TENANT:
        raise TenantError("a tenant id is 1 to 40 lower-case letters, digits or _, starting with a letter,"
                          f" and not {DEFAULT_TENANT!r}")
    role = ROLE_PREFIX + tenant_id
    if db.execute(f"SELECT 1 FROM {_schema(db)}.{TENANTS_TABLE} WHERE {COLUMN} = ? OR role_name = ?",
                  [tenant_id, role]).fetchone():
        raise TenantError(f"tenant {tenant_id} exists already")
    if db.execute("SELECT 1 FROM pg_roles WHERE rolname = ?", [role]).fetchone():
        raise TenantError(f"the database role {role} exists already (another database's tenant?)")
    return role


def new_password() -> str:
    return secrets.token_urlsafe(32)


def add_tenant(db: Store, tenant_id: str, name: str, password: str) -> Tenant:
    """A new tenant: its login role with `password` (sent to the server only as a SCRAM verifier,
    so it is in no statement or server log), the mapping and the grants."""
    role = check_new_tenant(db, tenant_id)
    schema = _schema(db)
    pgconn = cast("postgres.Connection", db.conn).raw.pgconn
    verifier = pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    from core.store.postgres import literal
    with write(db):
        db.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT'
                   f" PASSWORD {literal(verifier)}")
        grant(db, role)
        db.execute(f"INSERT INTO {schema}.{TENANTS_TABLE} (role_name, {COLUMN}, name) VALUES (?, ?, ?)",
                   [role, tenant_id, name])
    return Tenant(tenant_id, name, role)


def grant_every_town(db: Store) -> list[str]:
    """Give each mapped town's role (where the cluster has it) its grants on this database: a
    restored database (pg_restore --no-acl) has none. The towns whose role is missing are
    returned: they need `tenants add` on this cluster."""
    missing = []
    with write(db):
        for town in tenants(db):
            if db.execute("SELECT 1 FROM pg_roles WHERE rolname = ?", [town.role_name]).fetchone():
                grant(db, town.role_name)
            else:
                missing.append(town.tenant_id)
    return missing


def grant(db: Store, role: str) -> None:
    """A town's role's rights on this database: its rows (row-level security keeps it to them),
    reading the shared tables, and the same on the tables later migrations make."""
    schema = _schema(db)
    with write(db):
        database = db.execute("SELECT current_database()").fetchone()[0]
        db.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        db.execute(f'GRANT USAGE ON SCHEMA {schema} TO "{role}"')
        db.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO "{role}"')
        db.execute(f'REVOKE INSERT, UPDATE, DELETE ON {", ".join(f"{schema}.{t}" for t in SHARED_TABLES)}'
                   f' FROM "{role}"')
        db.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO "{role}"')
        # Tables and sequences later migrations make (as this owner) are granted too.
        db.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
                   f' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"')
        db.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO "{role}"')


def url_for_role(url: str, role: str) -> str:
    """`url` (a libpq URL, [storage].url) logging in as `role`: the tenant's [storage].url."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "user"]
    host = parts.netloc.rsplit("@", 1)[-1]
    if host:
        return urlunsplit(parts._replace(netloc=f"{quote(role)}@{host}", query=urlencode(query, safe="/")))
    # A unix socket's URL has no host part (postgresql:///db?host=/run/postgresql), which urlunsplit drops.
    return f"{parts.scheme}://{parts.path}?{urlencode([*query, ('user', role)], safe='/')}"


def tenants(db: Store) -> list[Tenant]:
    _require_postgresql(db)
    return [Tenant(r[COLUMN], r["name"] or "", r["role_name"]) for r in db.query(
        f"SELECT role_name, {COLUMN}, name FROM {_schema(db)}.{TENANTS_TABLE} ORDER BY {COLUMN}")]


def refuse_if_seeing_every_town(db: Store) -> None:
    """Refuse a role that row-level security does not restrict (the tables' owner, a superuser)
    once the database has towns: it would serve, purge or forward every town's rows as one.
    That role runs migrations and `madoguchi tenants`; each town is served with its own."""
    if not is_postgresql(db):
        return
    schema = _schema(db)
    unrestricted = db.execute(
        "SELECT r.rolsuper OR r.rolbypassrls OR pg_has_role(current_user, c.relowner, 'USAGE')"
        " FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = CAST(? AS regclass)",
        [f"{schema}.{TENANTS_TABLE}"]).fetchone()[0]
    if unrestricted and db.execute(f"SELECT EXISTS (SELECT 1 FROM {schema}.{TENANTS_TABLE})").fetchone()[0]:
        raise TenantError("this database role sees every town's rows (it owns the tables) and the database has"
                          " towns: run this with the town's own config (`madoguchi tenants list` names their roles)")


def refuse_config_seeing_every_town(config) -> None:
    """`refuse_if_seeing_every_town` for a command that opens its own connections (serve, forward)."""
    db = open_from_config(config)
    try:
        refuse_if_seeing_every_town(db)
    finally:
        db.conn.close()


def _require_postgresql(db: Store) -> None:
    if not is_postgresql(db):
        raise TenantError("tenants need PostgreSQL ([storage].engine = \"postgresql\"): SQLite serves one town")


def _schema(db: Store) -> str:
    return '"' + db.execute("SELECT current_schema()").fetchone()[0].replace('"', '""') + '"'


def _columns(db: Store, table: str) -> set[str]:
    if is_postgresql(db):
        return {r[0] for r in db.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = CAST(? AS regclass) AND attnum > 0"
            " AND NOT attisdropped", ['"' + table.replace('"', '""') + '"'])}
    return set(cast("sqlite_utils.Database", db).table(table).columns_dict)
