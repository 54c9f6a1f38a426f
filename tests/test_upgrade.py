"""A database made by an earlier release (tests/fixtures/upgrade/README.md) is upgraded by the
migrations, reads, verifies, and serves."""
from __future__ import annotations

import importlib
import os
import shutil
import sqlite3

import pytest

from core import exchange_log as xlog
from core import users
from core.application import State
from core.cli import register_every_surface
from core.store.applications import ApplicationStore
from core.store.db import applied_migrations, connect, migration_modules, open_from_config
from tests.fixtures_counter import PASSWORD, sign_in, text_of
from tests.helpers import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "upgrade" / "madoguchi-276c0fd.db"


@pytest.fixture
def old_database(config):
    path = config.path(config.storage.path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(FIXTURE, path)
    os.chmod(path, 0o600)
    return path


@pytest.mark.sqlite_only("the earlier release's database is a SQLite file")
def test_the_previous_release_s_database_is_upgraded_and_verifies(config, old_database, fast_password_hashing):
    old = connect(old_database)
    before = applied_migrations(old)
    old.conn.close()
    assert "core.exchange_log:m001_exchange_log" in before
    assert "core.exchange_log:m002_fields" not in before and "core.store.applications:m002_purged_at" not in before

    register_every_surface()
    db = open_from_config(config)
    after = applied_migrations(db)
    assert after[:len(before)] == before and "core.exchange_log:m002_fields" in after
    for module in migration_modules():
        assert importlib.import_module(module).migrations.pending(db) == [], module

    apps = ApplicationStore(db).list()
    assert sorted(str(a.state) for a in apps) == ["forwarded"] * 3 + ["printed", "submitted"]
    assert all(a.data.get("name") and ApplicationStore(db).events(a.id) for a in apps)
    result = xlog.verify(db)
    assert result.ok and result.entries == 12
    # Entries written now, with the fields they concern, chain on to the old ones.
    forwarded = next(a for a in apps if a.state is State.FORWARDED)
    xlog.append(db, config, actor="clerk:sato", counterparty="madoguchi", purpose="clerk_view",
                application_id=forwarded.id, payload=forwarded.data, person=xlog.Person.of(forwarded.data),
                fields=["name"])
    assert xlog.verify(db).ok and xlog.verify(db).entries == 13

    users.add_user(db, "sato", PASSWORD, "supervisor")
    db.conn.close()
    from web import create_app
    app = create_app(config)
    app.config["TESTING"] = True
    client = sign_in(app.test_client())
    page = client.get(f"/counter/applications/{forwarded.id}")
    assert page.status_code == 200 and forwarded.data["name"] in text_of(page)
    assert client.get("/counter/").status_code == 200
    assert client.get("/counter/exchange-log").status_code == 200
    assert client.get("/counter/figures").status_code == 200


def test_the_fixture_is_what_the_old_code_made():
    """Guards against a fixture rewritten by today's code by mistake: it lacks today's migrations.
    Opened read-only (core.store.db.connect would make it WAL and write beside it)."""
    with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")}
        fields = [r[1] for r in conn.execute("PRAGMA table_info(exchange_log)")]
    assert "m001_exchange_log" in names and "m002_fields" not in names and "fields" not in fields
