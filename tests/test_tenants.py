"""Towns sharing one PostgreSQL database (core.store.tenancy, `madoguchi tenants`): each town's
process logs in as its own role, whose rows row-level security keeps from every other town.

Two towns made with `madoguchi tenants add` as the owner would, each with a config of its own
(keys folder, role), then what one saves is looked for by the other: through the owners' calls,
the served counter pages and raw SQL."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stat
import sys
import threading
import types
from datetime import date

import psycopg
import pytest
from click.testing import CliRunner
from sqlite_utils.migrations import Migrations

from core import exchange_log as xlog
from core import users
from core.cli import main
from core.config import load_config
from core.errors import NotFound
from core.store import tenancy
from core.store.applications import ApplicationStore
from core.store.db import migrate, open_from_config, open_postgresql, register_migrations, write
from kiosk import pairing, reception
from tests.conftest import test_overrides as overrides_in
from tests.fixtures_counter import PASSWORD, kiosk_application, post, sign_in, text_of
from tests.helpers import ROOT, write_config


class Town:
    def __init__(self, tenant_id, config, role):
        self.tenant_id, self.config, self.role = tenant_id, config, role
        self._dbs = []

    def db(self, **kw):
        db = open_from_config(self.config, **kw)
        self._dbs.append(db)
        return db

    def close(self):
        for db in self._dbs:
            db.conn.close()


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args)], catch_exceptions=False)


@pytest.fixture
def owner_config_file(tmp_path, postgres_url):
    return write_config(tmp_path / "owner.toml",
                        overrides_in(tmp_path / "owner", {"engine": "postgresql", "url": postgres_url}))


@pytest.fixture
def add_town(tmp_path, postgres_url, postgres_server, owner_config_file, fast_password_hashing):
    """add_town("A町") -> Town: `madoguchi tenants add` as the owner, and the town's own config."""
    made: list[Town] = []

    def add(name: str) -> Town:
        tenant_id = f"t{secrets.token_hex(4)}"   # roles are the cluster's: unique per test
        folder = tmp_path / tenant_id
        keys = folder / "var" / "keys"
        result = invoke("--config", owner_config_file, "tenants", "add", tenant_id, "--name", name, "--keys-dir", keys)
        assert result.exit_code == 0, result.output
        role = tenancy.ROLE_PREFIX + tenant_id
        storage = {"engine": "postgresql", "url": tenancy.url_for_role(postgres_url, role)}
        config = load_config(ROOT / "config.toml", overrides=overrides_in(folder, storage), base_dir=folder)
        made.append(Town(tenant_id, config, role))
        made[-1].config_file = write_config(folder / "config.toml", overrides_in(folder, storage))
        made[-1].added = result.output
        return made[-1]

    yield add
    for town in made:
        town.close()
    database = postgres_url.split("///", 1)[1].split("?", 1)[0]
    with psycopg.connect(postgres_server.url(database), autocommit=True) as conn:
        for town in made:
            conn.execute(f'DROP OWNED BY "{town.role}"')
            conn.execute(f'DROP ROLE "{town.role}"')


@pytest.fixture
def owner(postgres_url):
    db = open_postgresql(postgres_url)
    yield db
    db.conn.close()


def scram_matches(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's SCRAM-SHA-256 verifier was made from `password` (RFC 5802's StoredKey)."""
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$")
    iterations, salt = params.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == base64.b64decode(stored_key)


def test_tenants_add_makes_a_role_a_private_password_and_the_mapping(add_town, owner, owner_config_file,
                                                                       postgres_server):
    a = add_town("A町")
    password_file = a.config.path(a.config.keys.dir) / "database.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(password_file.parent.stat().st_mode) == 0o700
    password = password_file.read_text().strip()
    assert len(password) >= 40
    # The server has only its SCRAM verifier, made from the file's password.
    (verifier,) = postgres_server.admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{a.role}'")[0]
    assert scram_matches(verifier, password) and not scram_matches(verifier, password + "x")
    assert postgres_server.admin(f"SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls"
                                 f" FROM pg_roles WHERE rolname = '{a.role}'") == [(False, False, False, False)]
    listed = invoke("--config", owner_config_file, "tenants", "list")
    assert listed.exit_code == 0 and f"{a.tenant_id}\t{a.role}\tA町" in listed.output
    assert password not in listed.output
    # Adding it again, or a name that is not an id, is refused with words, and makes nothing.
    again = CliRunner().invoke(main, ["--config", str(owner_config_file), "tenants", "add", a.tenant_id,
                                      "--name", "A町", "--keys-dir", str(password_file.parent.parent / "other")])
    assert again.exit_code == 1 and "exists already" in again.output
    other = f"t{secrets.token_hex(4)}"   # a new town, but A's keys folder: refused before any role is made
    shared = CliRunner().invoke(main, ["--config", str(owner_config_file), "tenants", "add", other, "--name", "B村",
                                       "--keys-dir", str(password_file.parent)])
    assert shared.exit_code == 1 and "keys folder of its own" in shared.output
    assert password_file.read_text().strip() == password
    assert postgres_server.admin(f"SELECT 1 FROM pg_roles WHERE rolname = 'madoguchi_t_{other}'") == []
    for bad in ("default", "Upper", "a-b", "../x", "1abc", ""):
        refused = CliRunner().invoke(main, ["--config", str(owner_config_file), "tenants", "add", bad, "--name", "x"])
        assert refused.exit_code == 1 and "tenant id is" in refused.output, bad
    assert [t.tenant_id for t in tenancy.tenants(owner)] == [a.tenant_id]


def test_tenants_add_prints_no_password_and_refuses_sqlite(add_town, tmp_path, caplog):
    a = add_town("A町")
    password = (a.config.path(a.config.keys.dir) / "database.password").read_text().strip()
    listed = invoke("--config", tmp_path / "owner.toml", "tenants", "list")
    assert password not in a.added + listed.output + caplog.text
    # What it prints is the town's config: its role's URL (no password) and its keys folder.
    assert f'url = "{a.config.storage.url}"' in a.added and str(a.config.path(a.config.keys.dir)) in a.added
    # A SQLite config of its own, whatever the engine of this pass.
    sqlite_config = write_config(tmp_path / "sqlite.toml", overrides_in(tmp_path / "sqlite"))
    refused = CliRunner().invoke(main, ["--config", str(sqlite_config), "tenants", "add", "town", "--name", "x"])
    assert refused.exit_code == 1 and "tenants need PostgreSQL" in refused.output


def every_table(db) -> list[str]:
    return [t for t in db.table_names() if t not in tenancy.SHARED_TABLES]


def test_what_one_town_saves_the_other_never_sees(add_town, owner):
    a, b = add_town("A町"), add_town("B村")
    db_a, db_b = a.db(), b.db()
    users.add_user(db_a, "sato", PASSWORD, "admin")
    app = kiosk_application(db_a, reception="A-001")
    assert pairing.pair(db_a, "kiosk-1", pairing.new_code(db_a, "kiosk-1"))
    reception.next_number(db_a, "A")
    assert all(db_a[t].count for t in ("users", "applications", "exchange_log", "kiosk_devices", "reception_counters"))
    # B: no row of any table, whichever module's query asks.
    assert {t: db_b[t].count for t in every_table(db_b)} == {t: 0 for t in every_table(db_b)}
    assert users.list_users(db_b) == []
    with pytest.raises(NotFound):
        ApplicationStore(db_b).get(app.id)
    assert list(xlog.entries(db_b)) == [] and xlog.head(db_b)["seq"] == 0
    assert not pairing.has_browser(db_b, "kiosk-1")
    assert reception.issued_today(db_b, "A") == 0
    # The rows are A's, and the owner (who runs migrations, tenant 'default') sees them as A's.
    assert {r["tenant_id"] for r in owner.query("SELECT tenant_id FROM applications")} == {a.tenant_id}
    assert tenancy.current_tenant(db_a) == a.tenant_id and tenancy.current_tenant(owner) == "default"


def test_two_towns_may_use_the_same_names_and_numbers(add_town):
    a, b = add_town("A町"), add_town("B村")
    db_a, db_b = a.db(), b.db()
    for db in (db_a, db_b):
        users.add_user(db, "sato", PASSWORD, "clerk")
        assert pairing.pair(db, "kiosk-1", pairing.new_code(db, "kiosk-1"))
    day = date(2026, 12, 2)
    assert [reception.next_number(db_a, "A", day), reception.next_number(db_b, "A", day),
            reception.next_number(db_a, "A", day)] == ["A-001", "A-001", "A-002"]
    assert reception.issued_today(db_b, "A", day) == 1
    assert [u.username for u in users.list_users(db_a)] == [u.username for u in users.list_users(db_b)] == ["sato"]


def test_a_towns_counter_serves_only_its_own(add_town):
    from web import create_app
    a, b = add_town("A町"), add_town("B村")
    db_a, db_b = a.db(), b.db()
    users.add_user(db_a, "sato", PASSWORD, "clerk")
    users.add_user(db_b, "kato", PASSWORD, "clerk")
    mine = kiosk_application(db_a, reception="7")
    apps = {}
    for town in (a, b):
        flask_app = create_app(town.config, surfaces=["counter"])
        flask_app.config["TESTING"] = True
        apps[town.tenant_id] = flask_app
    # A's clerk, with A's password, is nobody on B's server.
    refused = post(apps[b.tenant_id].test_client(), "/counter/sign-in?lang=en",
                   {"username": "sato", "password": PASSWORD})
    assert refused.status_code != 302
    on_a = sign_in(apps[a.tenant_id].test_client(), "sato")
    assert mine.id in on_a.get("/counter/").get_data(as_text=True)
    assert on_a.get(f"/counter/applications/{mine.id}").status_code == 200
    on_b = sign_in(apps[b.tenant_id].test_client(), "kato")
    assert mine.id not in on_b.get("/counter/").get_data(as_text=True)
    missing = on_b.get(f"/counter/applications/{mine.id}?lang=en")
    assert missing.status_code == 404 and "not found" in text_of(missing).lower()
    # B's clerk looking left no entry in A's log, and B's log has only what B did.
    assert [e["purpose"] for e in xlog.entries(db_a)].count("clerk_view") == 1
    assert all(e["actor"] != "clerk:sato" for e in xlog.entries(db_b))


def test_each_towns_exchange_log_is_its_own_chain_under_concurrent_appends(add_town, owner):
    a, b = add_town("A町"), add_town("B村")
    per_thread, problems = 15, []

    def append_many(town, label):
        db = open_from_config(town.config)
        try:
            for n in range(per_thread):
                xlog.append(db, None, actor=f"kiosk:{label}", counterparty="printer:q", purpose="print",
                            application_id=f"{label}-{n}", payload=b"%PDF")
        except Exception as e:   # noqa: BLE001 - reported below
            problems.append(repr(e))
        finally:
            db.conn.close()

    threads = [threading.Thread(target=append_many, args=(town, f"{town.tenant_id}-{k}"))
               for town in (a, b) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    for town in (a, b):
        db = town.db()
        entries = list(xlog.entries(db))
        assert [e["seq"] for e in entries] == list(range(1, 2 * per_thread + 1))
        assert {e["actor"].split(":")[1].rsplit("-", 1)[0] for e in entries} == {town.tenant_id}
        assert xlog.verify(db).ok and xlog.head(db)["seq"] == 2 * per_thread
    # The owner's role sees every row, but its own chain ('default') is still empty and intact.
    assert xlog.head(owner)["seq"] == 0 and xlog.verify(owner).ok and list(xlog.entries(owner)) == []


def test_one_towns_appender_never_waits_for_anothers(add_town):
    a, b = add_town("A町"), add_town("B村")
    db_a = a.db()
    db_b = open_postgresql(b.config.storage.url, None, lock_timeout_ms=1000)   # waiting would fail it
    try:
        with write(db_a):
            xlog.append(db_a, None, actor="kiosk:a", counterparty="x", purpose="print", application_id="a1", payload=1)
            # A's transaction holds A's chain; B appends (in another connection) meanwhile.
            xlog.append(db_b, None, actor="kiosk:b", counterparty="x", purpose="print", application_id="b1", payload=1)
        assert xlog.head(db_b)["seq"] == 1 and xlog.head(db_a)["seq"] == 1
    finally:
        db_b.conn.close()


def raw(town) -> psycopg.Connection:
    return psycopg.connect(town.config.storage.url, autocommit=True)


def test_raw_sql_cannot_read_or_write_another_towns_rows(add_town):
    a, b = add_town("A町"), add_town("B村")
    db_a = a.db()
    app = kiosk_application(db_a)
    users.add_user(db_a, "sato", PASSWORD, "clerk")
    users.add_user(b.db(), "kato", PASSWORD, "clerk")
    with raw(b) as conn:
        assert conn.execute("SELECT count(*) FROM applications WHERE tenant_id = %s", [a.tenant_id]).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM exchange_log").fetchone() == (0,)
        assert conn.execute("UPDATE applications SET state = 'rejected' WHERE id = %s", [app.id]).rowcount == 0
        assert conn.execute("DELETE FROM exchange_log").rowcount == 0
        # WITH CHECK: no row can be written as A's, nor moved to A.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO kiosk_devices (tenant_id, kiosk_id, secret_sha256, paired_at)"
                         " VALUES (%s, 'kiosk-9', 'x', 'now')", [a.tenant_id])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE users SET tenant_id = %s WHERE username = 'kato'", [a.tenant_id])
        # The tenant is the role's: no setting, other role, search path or temporary table changes it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'SET ROLE "{a.role}"')
        conn.execute("SELECT set_config('madoguchi.tenant', %s, false)", [a.tenant_id])   # a setting nothing reads
        conn.execute("CREATE TEMP TABLE madoguchi_tenants (role_name text, tenant_id text, name text)")
        conn.execute("INSERT INTO madoguchi_tenants VALUES (current_user, %s, 'A町')", [a.tenant_id])
        conn.execute("SET search_path = pg_temp, public")
        assert conn.execute("SELECT madoguchi_tenant()").fetchone() == (b.tenant_id,)
        assert conn.execute("SELECT count(*) FROM public.users WHERE username = 'sato'").fetchone() == (0,)
        conn.execute("RESET search_path")
        # The mapping and the migrations' record are read-only to a town, and it sees only its own mapping.
        assert conn.execute("SELECT tenant_id FROM public.madoguchi_tenants").fetchall() == [(b.tenant_id,)]
        for sql in ("UPDATE public.madoguchi_tenants SET tenant_id = 'x'",
                    "INSERT INTO public.madoguchi_tenants VALUES ('madoguchi_t_zz', 'zz', 'Z')",
                    "DELETE FROM _sqlite_migrations"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        # Nor can it change the tables (or row-level security on them).
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE applications DISABLE ROW LEVEL SECURITY")
    assert ApplicationStore(db_a).get(app.id).state == app.state and xlog.verify(db_a).ok


def tables_lacking_tenancy(db) -> dict[str, list[str]]:
    """Tables without a NOT NULL tenant_id, row-level security on, or a policy for every command
    (its USING checks written rows too when it has no WITH CHECK of its own)."""
    found = {}
    for table, not_null, secured, policy in db.execute(
            "SELECT c.relname, a.attnotnull, c.relrowsecurity, p.polqual IS NOT NULL AND p.polcmd = '*'"
            " FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
            " LEFT JOIN pg_policy p ON p.polrelid = c.oid"
            " WHERE c.relnamespace = CAST(current_schema() AS regnamespace) AND c.relkind IN ('r', 'p')").fetchall():
        if table == "_sqlite_migrations":   # which migrations ran: one record for every town, read-only to them
            continue
        missing = [what for what, ok in (("tenant_id", not_null), ("row-level security", secured),
                                         ("policy", policy)) if not ok]
        if missing:
            found[table] = missing
    return found


def test_every_table_has_a_tenant_column_and_a_policy(owner):
    assert len(owner.table_names()) > 20
    assert tables_lacking_tenancy(owner) == {}


def test_a_table_a_later_migration_adds_gets_its_tenant_too(add_town, owner, monkeypatch):
    a, b = add_town("A町"), add_town("B村")
    module = types.ModuleType("tests.later_owner")
    module.migrations = Migrations("tests.later_owner")
    module.migrations()(lambda db: db["later_things"].create({"id": str, "what": str}, pk="id"))
    monkeypatch.setitem(sys.modules, "tests.later_owner", module)
    migrate(owner, ["tests.later_owner"])   # as a new version's first start does, as the owner
    assert tables_lacking_tenancy(owner) == {}
    db_a, db_b = a.db(), b.db()
    db_a.execute("INSERT INTO later_things (id, what) VALUES ('1', 'A''s')")   # granted by default privileges
    assert db_b["later_things"].count == 0 and db_a["later_things"].count == 1


def test_a_towns_role_cannot_migrate_and_says_what_to_do(add_town, monkeypatch):
    from core.store import db as store
    a = add_town("A町")
    module = types.ModuleType("tests.later_owner2")
    module.migrations = Migrations("tests.later_owner2")
    module.migrations()(lambda db: db["later_things2"].create({"id": str}, pk="id"))
    monkeypatch.setitem(sys.modules, "tests.later_owner2", module)
    monkeypatch.setattr(store, "_registered", [*store._registered])
    register_migrations("tests.later_owner2")
    with pytest.raises(store.SchemaNotOwned, match="owner's config"):
        a.db()
    # Its server refuses to start, saying so; a request that meets it anyway is a 503, not a 500.
    from web import create_app
    from web.serve import serve
    with pytest.raises(store.SchemaNotOwned, match="owner's config"):
        serve(a.config, "counter", port=0)
    r = create_app(a.config, "counter").test_client().get("/healthz")
    assert r.status_code == 503 and r.headers["Retry-After"]


@pytest.mark.sqlite_only("SQLite's tables (PostgreSQL's: test_every_table_has_a_tenant_column_and_a_policy)")
def test_every_sqlite_table_has_a_tenant_column(db):
    """SQLite serves one town: its rows are tenant 'default's, so the owners' SQL is the same as on PostgreSQL."""
    tables = every_table(db)
    assert len(tables) > 20
    columns = {t: {c[1]: c for c in db.execute(f"PRAGMA table_info([{t}])")} for t in tables}
    assert {t: (c["tenant_id"][2], c["tenant_id"][3], c["tenant_id"][4]) if "tenant_id" in c else None
            for t, c in columns.items()} == {t: ("TEXT", 1, "'default'") for t in tables}


def test_the_owners_role_serves_no_town_once_there_are_towns(add_town, owner_config_file, tmp_path, postgres_url):
    from core.store.tenancy import TenantError
    from web.serve import serve
    owner_config = load_config(owner_config_file, base_dir=tmp_path / "owner")
    before = invoke("--config", owner_config_file, "exchange-log", "verify")
    assert before.exit_code == 0, before.output      # one town on PostgreSQL: the owner may serve it
    a = add_town("A町")
    for command in (["exchange-log", "verify"], ["users", "list"], ["forward", "--once"]):
        refused = CliRunner().invoke(main, ["--config", str(owner_config_file), *command])
        assert refused.exit_code == 1 and "sees every town's rows" in refused.output, command
    with pytest.raises(TenantError, match="town's own config"):
        serve(owner_config, surface="counter", port=1)
    mine = invoke("--config", a.config_file, "exchange-log", "verify")
    assert mine.exit_code == 0 and "intact: 0 entries" in mine.output


def test_the_password_reaches_no_server_log(owner, postgres_server):
    """Even with every statement logged, the server's log has the role's SCRAM verifier, never the password."""
    owner.execute("SET log_statement = 'all'")
    password, tenant_id = tenancy.new_password(), f"t{secrets.token_hex(4)}"
    tenant = tenancy.add_tenant(owner, tenant_id, "C市", password)
    try:
        owner.execute("SELECT pg_sleep(0.2)")   # the logger writes asynchronously
        log = (postgres_server.folder / "server.log").read_text(errors="replace")
        assert f'CREATE ROLE "{tenant.role_name}"' in log and "SCRAM-SHA-256$" in log
        assert password not in log
    finally:
        owner.execute(f'DROP OWNED BY "{tenant.role_name}"')
        owner.execute(f'DROP ROLE "{tenant.role_name}"')


# Each owner's migration that puts the tenant into a natural key: a database made before them.
TENANCY_MIGRATIONS = {"core.users": "m003_username_per_tenant", "core.signin_throttle": "m002_key_per_tenant",
                      "kiosk.pairing": "m002_kiosk_id_per_tenant",
                      "kiosk.reception": "m003_reception_counters_per_tenant",
                      "counter.figures": "m003_figures_per_tenant", "core.exchange_log": "m003_chain_per_tenant"}


@pytest.fixture
def empty_database(engine, tmp_path, request):
    if engine == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = server.new_database()
        from core.store import postgres
        db = postgres.connect(server.url(name), None, 10000)
        yield db
        db.conn.close()
        server.drop_database(name)
    else:
        from core.store.db import connect
        db = connect(tmp_path / "before.db")
        yield db
        db.conn.close()


@pytest.mark.engines
def test_a_database_from_before_tenants_is_the_default_towns(empty_database, fast_password_hashing):
    import importlib

    from core.store.db import migration_modules
    db = empty_database
    with write(db):
        for name in migration_modules():
            importlib.import_module(name).migrations.apply(db, stop_before=TENANCY_MIGRATIONS.get(name))
    assert db.table("users").pks == ["username"]
    users.add_user(db, "sato", PASSWORD, "clerk")               # the old schema's own SQL
    db.execute("INSERT INTO kiosk_devices (kiosk_id, secret_sha256, paired_at) VALUES ('kiosk-1', 'h', 'then')")
    db.execute("INSERT INTO reception_counters (day, office, prefix, last) VALUES ('2026-12-02', '', 'A', 4)")
    prev = xlog.GENESIS
    for seq in (1, 2):
        entry = {"seq": seq, "at": f"2026-12-0{seq}T00:00:00+00:00", "actor": "kiosk:kiosk-1", "counterparty": "x",
                 "purpose": "print", "application_id": f"app{seq}", "subject_ref": None, "payload_sha256": "",
                 "result": "ok", "prev_hash": prev, "fields": None}
        entry["entry_hash"] = prev = xlog.entry_hash(entry)
        db.execute(f"INSERT INTO exchange_log ({', '.join(entry)}) VALUES ({', '.join('?' * len(entry))})",
                   list(entry.values()))
    with write(db):
        migrate(db)
    # Every row is the default town's, under keys that include it, and everything goes on from where it was.
    assert {r["tenant_id"] for t in ("users", "kiosk_devices", "reception_counters", "exchange_log")
            for r in db.query(f"SELECT tenant_id FROM {t}")} == {"default"}
    assert db.table("users").pks == ["tenant_id", "username"] and db.table("exchange_log").pks == ["tenant_id", "seq"]
    assert xlog.verify(db).ok and xlog.append(db, None, actor="kiosk:kiosk-1", counterparty="x", purpose="print",
                                              application_id="app3", payload=1)["seq"] == 3
    assert xlog.verify(db).ok
    assert reception.next_number(db, "A", date(2026, 12, 2)) == "A-005" and pairing.has_browser(db, "kiosk-1")
    user = users.get_user(db, "sato")
    assert users.session_for(db, users.start_session(db, user, 60)).user.username == "sato"


def test_a_random_id_another_town_holds_is_refused_not_shared(add_town):
    """Random ids (applications, tokens) are the database's, not a town's: B cannot store an
    application under an id A holds (a kiosk PC of B would have to know it), nor read or change A's."""
    from core.store.applications import AlreadyStored
    a, b = add_town("A町"), add_town("B村")
    mine = kiosk_application(a.db())
    copy = ApplicationStore(a.db()).get(mine.id)
    copy.version = 0
    with pytest.raises(AlreadyStored):
        ApplicationStore(b.db()).save(copy)
    assert ApplicationStore(a.db()).get(mine.id).version == 1 and ApplicationStore(b.db()).find(mine.id) is None


# --- backups of a shared database and of one town ---------------------------------------------

def _restored_database(postgres_server):
    name = postgres_server.new_database()
    return name, postgres_server.url(name)


def _drop_restored(postgres_server, name, towns):
    """The restored database's grants name the towns' roles, which the add_town fixture drops."""
    postgres_server.drop_database(name)


def test_the_owners_backup_restores_every_towns_rows_and_verifies_each_chain(
        add_town, owner_config_file, postgres_server, tmp_path):
    from core import backup as bk
    a, b = add_town("A町"), add_town("B村")
    db_a, db_b = a.db(), b.db()
    mine_a = [kiosk_application(db_a, reception=f"A-00{n}").id for n in (1, 2)]
    mine_b = kiosk_application(db_b, reception="A-001").id
    owner_config = load_config(owner_config_file)
    made = bk.make_backup(owner_config)
    heads = made.manifest["exchange_log_heads"]
    assert set(heads) == {"default", a.tenant_id, b.tenant_id}
    assert heads[a.tenant_id] == xlog.head(db_a) and heads[b.tenant_id] == xlog.head(db_b)
    assert heads["default"]["seq"] == 0 and made.manifest["exchange_log_head"] == heads["default"]

    name, url = _restored_database(postgres_server)
    try:
        result = bk.restore_backup(made.path, tmp_path / "restored", bk.existing_backup_key(owner_config),
                                   into_database=url)
        assert result.verification.ok, str(result.verification)
        assert result.verification.entries == heads[a.tenant_id]["seq"] + heads[b.tenant_id]["seq"]
        assert result.towns_without_role == []
        # The towns' roles have their rights on the new database again, and still only their rows.
        restored_a = open_postgresql(tenancy.url_for_role(url, a.role), (a.config.path(a.config.keys.dir)
                                                                          / "database.password").read_text())
        try:
            assert {app.id for app in ApplicationStore(restored_a).list()} == set(mine_a)
            assert mine_b not in {app.id for app in ApplicationStore(restored_a).list()}
            assert xlog.verify(restored_a).ok and xlog.head(restored_a) == heads[a.tenant_id]
        finally:
            restored_a.conn.close()
    finally:
        _drop_restored(postgres_server, name, (a, b))


def test_one_towns_broken_chain_is_named_by_its_town(add_town, owner):
    a, b = add_town("A町"), add_town("B村")
    kiosk_application(a.db(), reception="A-001")
    kiosk_application(b.db(), reception="A-001")
    assert xlog.verify_every_town(owner, {}).ok
    owner.execute("UPDATE exchange_log SET actor = 'kiosk:forged' WHERE tenant_id = ? AND seq = 1", [b.tenant_id])
    checked = xlog.verify_every_town(owner, {})
    assert not checked.ok and checked.problem == f"town {b.tenant_id}: its contents were changed"
    assert xlog.verify(a.db()).ok and not xlog.verify(b.db()).ok     # each town's own check agrees


def test_a_towns_own_backup_holds_its_rows_only(add_town, postgres_server, tmp_path):
    """A town's `madoguchi backup` runs as its role: pg_dump under row-level security dumps the
    schema and that town's rows, none of another town's."""
    from core import backup as bk
    a, b = add_town("A町"), add_town("B村")
    mine = kiosk_application(a.db(), reception="A-001").id
    kiosk_application(b.db(), reception="A-001")
    made = bk.make_backup(a.config)
    assert set(made.manifest["exchange_log_heads"]) == {"default", a.tenant_id}
    name, url = _restored_database(postgres_server)
    try:
        result = bk.restore_backup(made.path, tmp_path / "restored-a", bk.existing_backup_key(a.config),
                                   into_database=url)
        assert result.verification.ok and result.verification.entries == xlog.head(a.db())["seq"]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT DISTINCT tenant_id FROM applications").fetchall() == [(a.tenant_id,)]
            assert conn.execute("SELECT id FROM applications").fetchall() == [(mine,)]
            assert conn.execute("SELECT DISTINCT tenant_id FROM exchange_log").fetchall() == [(a.tenant_id,)]
    finally:
        _drop_restored(postgres_server, name, (a,))


def test_doctor_names_the_town_and_refuses_the_owners_role_once_there_are_towns(add_town, owner_config_file):
    from web.doctor import FAIL, OK, check_database
    a = add_town("A町")
    [found] = list(check_database(a.config))
    assert found.status == OK and f"as town {a.tenant_id}" in found.detail
    findings = list(check_database(load_config(owner_config_file)))
    assert [f.status for f in findings][0] == FAIL and "sees every town's rows" in findings[0].detail
    assert "tenants list" in findings[0].fix
