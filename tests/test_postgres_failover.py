"""Failover on one machine (docs/operations.md, "PostgreSQL: a synchronous standby"): a
primary and a streaming-replication standby, each a cluster of its own; every commit waits
for the standby's disk; the primary dies at once; the standby is promoted and has every entry
the primary said was committed (also those it had not replayed yet), the exchange log intact,
and takes writes."""
from __future__ import annotations

import time

import psycopg
import pytest

from core import exchange_log as xlog
from core.store import postgres
from core.store.db import can_write, is_unwritable, open_postgresql, write
from tests.fixtures_postgres import PostgresServer


def wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def primary_and_standby():
    primary = PostgresServer(durable=True, name="primary")
    standby = None
    try:
        standby = PostgresServer(durable=True, standby_of=primary, name="standby1")
        yield primary, standby
    finally:
        for server in (standby, primary):
            if server is not None:
                server.stop()


def test_a_promoted_synchronous_standby_has_every_committed_entry(config, primary_and_standby):
    primary, standby = primary_and_standby
    name = primary.new_database()
    primary.admin("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
    primary.admin("SELECT pg_reload_conf()")
    wait_for(lambda: primary.admin("SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby1'"
                                   " AND sync_state = 'sync'"), "the standby to be synchronous")

    db = open_postgresql(primary.url(name))      # migrated on the primary

    # The standby answers reads and refuses writes: unwritable, a 503.
    migrated = primary.admin("SELECT pg_current_wal_lsn()")[0][0]
    replica = wait_for(lambda: _connected(standby.url(name)), "the standby to have the database")
    wait_for(lambda: replica.execute("SELECT pg_last_wal_replay_lsn() >= CAST(? AS pg_lsn)", [str(migrated)]
                                     ).fetchone()[0], "the standby to replay the migrations")
    assert not can_write(replica)
    with pytest.raises(psycopg.Error) as refused:
        with write(replica):
            xlog.append(replica, config, actor="clerk:sato", counterparty="madoguchi", purpose="clerk_view",
                        application_id="APP0", payload={})
    assert is_unwritable(refused.value)

    # A synchronous commit waits for the standby's disk, not for its replay: with the replay held
    # back, the entries are committed on the primary and only in the standby's WAL.
    replica.execute("SELECT pg_wal_replay_pause()")
    for i in range(20):
        xlog.append(db, config, actor="kiosk:kiosk-1", counterparty="card", purpose="card_read",
                    application_id=f"APP{i}", payload={"i": i})
    committed = xlog.head(db)
    db.conn.close()
    assert xlog.head(replica)["seq"] == 0           # not replayed yet
    replica.conn.close()

    # One URL naming both servers: libpq takes the one that accepts writes, before and after.
    both = (f"postgresql:///{name}?host={primary.socket},{standby.socket}&port={primary.port},{standby.port}"
            "&user=postgres&target_session_attrs=read-write")
    assert _port_of(both) == primary.port

    primary.crash()
    standby.promote()
    assert wait_for(lambda: _port_of(both) == standby.port, "the URL to reach the promoted standby")
    promoted = open_postgresql(both)
    assert xlog.head(promoted) == committed
    assert xlog.verify(promoted, anchors=[committed]).ok
    assert can_write(promoted)
    entry = xlog.append(promoted, config, actor="clerk:sato", counterparty="madoguchi", purpose="clerk_view",
                        application_id="APP0", payload={})
    assert entry["seq"] == committed["seq"] + 1 and entry["prev_hash"] == committed["entry_hash"]
    assert xlog.verify(promoted).ok
    promoted.conn.close()


def _connected(url: str):
    try:
        return postgres.connect(url, None, 1000)
    except psycopg.OperationalError:
        return None


def _port_of(url: str) -> int | None:
    """The port of the server a connection to `url` reaches (None while none answers as asked)."""
    db = _connected(url)
    if db is None:
        return None
    try:
        return int(db.conn.raw.info.port)
    finally:
        db.conn.close()
