"""PostgreSQL as the storage engine: prereg submits and forwarding with two app processes
against one PostgreSQL server, on this machine (issue 16).

    .venv/bin/python bench/postgresql.py [--requests 2000] [--clients 4] [--records 2000]

Starts a PostgreSQL 15 cluster of its own in a temporary folder (fsync and synchronous
commits on, as a real server has them; tests/fixtures_postgres.py), then:
1. two `madoguchi serve --surface prereg` processes on it, `--clients` keep-alive clients
   shared between them, POSTing valid applications (bench/prereg.py's), rate limit off;
2. `--records` confirmed applications, delivered to a `madoguchi backend-sim` by two
   `madoguchi forward --once` processes at once (each claims with FOR UPDATE SKIP LOCKED);
   every record must be stored once and the exchange log must verify.
The same on SQLite for comparison with `--sqlite`. `--towns`: the same again with two towns
sharing the database (core.store.tenancy), one process of each step per town, each logged in
as its town's role, so every query goes through row-level security; each town's rows and chain
are checked apart. Runs as root (the cluster as the postgres user) or as a user who may run
PostgreSQL.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.forwarding import MADOGUCHI, confirm_many, free_port, start_sim, stop  # noqa: E402
from bench.prereg import percentile, run  # noqa: E402
from core import exchange_log as xlog  # noqa: E402
from core import outbox  # noqa: E402
from core.cli import register_every_surface  # noqa: E402
from core.config import load_config  # noqa: E402
from core.sealed import count  # noqa: E402
from core.store.db import open_from_config  # noqa: E402
from tests.fixtures_postgres import PostgresServer  # noqa: E402
from tests.helpers import LiveServer, write_config  # noqa: E402


def submits(config_files: list[Path], total: int, clients: int) -> tuple[float, list[float]]:
    """Two prereg servers (one per config); the clients split between them."""
    servers = [LiveServer(config_file, "prereg") for config_file in config_files]
    try:
        urls = [s.url + "/prereg/api/v1/applications" for s in servers]
        for url in urls:
            run(url, 50, 1)         # warm up each: imports, catalogue, first connections
        results: list[tuple[float, list[float]]] = []
        threads = [threading.Thread(target=lambda u=url: results.append(run(u, total // 2, max(1, clients // 2))))
                   for url in urls]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start, [x for _, lat in results for x in lat]
    finally:
        for s in servers:
            s.stop()


def forwarding(configs: list, config_files: list[Path], records: int, sim_port: int) -> tuple[float, dict]:
    """Two `madoguchi forward --once` processes (one per config) deliver `records` confirmed
    applications (split between the configs' databases when they are two towns')."""
    dbs = [open_from_config(config) for config in configs]
    if len(set(config_files)) == 1:
        confirm_many(dbs[0], records)
    else:
        for db in dbs:
            confirm_many(db, records // len(dbs))
    start = time.perf_counter()
    workers = [subprocess.Popen([MADOGUCHI, "forward", "--once"], env=dict(os.environ, MADOGUCHI_CONFIG=str(f)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for f in config_files]
    for w in workers:
        if w.wait(600) != 0:
            raise SystemExit(f"madoguchi forward failed: {w.stderr.read().decode()[-500:]}")
    elapsed = time.perf_counter() - start
    states: dict[str, int] = {}
    for db in dbs[:len(set(config_files))]:
        for state, n in outbox.counts_by_state(db).items():
            states[state] = states.get(state, 0) + n
    intact = all(xlog.verify(db).ok for db in dbs)
    for db in dbs:
        db.conn.close()
    stats = requests.get(f"http://127.0.0.1:{sim_port}/stats", timeout=5).json()
    return elapsed, {"states": states, "log_intact": intact, **stats}


def town_configs(storage: dict, values: dict, tmp: Path) -> list[Path]:
    """Two towns on the owner's (migrated) database: their roles, and a config each (own keys)."""
    from core.store import tenancy
    owner = open_from_config(load_config(write_config(tmp / "owner.toml", values), base_dir=tmp))
    files = []
    try:
        for town in ("bench_a", "bench_b"):
            tenancy.add_tenant(owner, town, town, tenancy.new_password())   # the cluster trusts its socket
            role_storage = {**storage, "url": tenancy.url_for_role(storage["url"], tenancy.ROLE_PREFIX + town)}
            files.append(write_config(tmp / f"{town}.toml", {**values, "storage": role_storage,
                                                             "keys": {"dir": str(tmp / f"keys-{town}")}}))
    finally:
        owner.conn.close()
    return files


def bench(name: str, storage: dict, args, tmp: Path, towns: bool = False) -> None:
    sim_port = free_port()
    values = {"storage": storage, "keys": {"dir": str(tmp / "keys")},
              "prereg": {"submissions_per_minute": 0}, "site": {"folder": str(ROOT / "sites" / "demo")},
              "backend": {"mode": "push", "url": f"http://127.0.0.1:{sim_port}/records", "timeout_seconds": 5.0}}
    config_file = write_config(tmp / f"{name}.toml", values)
    register_every_surface()      # as `madoguchi init` does: a town's role may not migrate
    open_from_config(load_config(config_file, base_dir=tmp)).conn.close()   # migrated before two processes start
    config_files = town_configs(storage, values, tmp) if towns else [config_file, config_file]
    configs = [load_config(f, base_dir=tmp) for f in config_files]

    elapsed, lat = submits(config_files, args.requests, args.clients)
    stored = 0
    for config in configs[:len(set(config_files))]:
        db = open_from_config(config)
        stored += count(db)
        db.conn.close()
    print(f"{name}: prereg submits, 2 processes, {args.clients} clients: {len(lat)} in {elapsed:.2f} s = "
          f"{len(lat) / elapsed:.0f}/s; latency p50 {percentile(lat, 50) * 1000:.1f} ms, "
          f"p99 {percentile(lat, 99) * 1000:.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms; "
          f"stored {stored} (with the warm-up's)")

    sim = start_sim(sim_port, tmp / f"{name}-sim.db")
    try:
        elapsed, result = forwarding(configs, config_files, args.records, sim_port)
    finally:
        stop(sim)
    delivered = result["states"].get("delivered", 0)
    print(f"{name}: forwarding, 2 processes: {delivered} of {args.records} delivered in {elapsed:.2f} s = "
          f"{delivered / elapsed:.0f} records/s; backend stored {result['stored']}, duplicates "
          f"{result['duplicates']}; exchange log {'intact' if result['log_intact'] else 'BROKEN'}")
    if delivered != args.records or result["stored"] != args.records or not result["log_intact"]:
        raise SystemExit(f"{name}: lost, doubled or broke something: {result}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true", help="the same on SQLite, for comparison")
    parser.add_argument("--towns", action="store_true",
                        help="the same again with two towns sharing the database (row-level security)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        server = PostgresServer(durable=True)
        try:
            database = server.new_database()
            bench("postgresql", {"engine": "postgresql", "url": server.url(database)}, args, tmp)
            if args.towns:
                shared = server.new_database()
                (tmp / "towns").mkdir()
                bench("postgresql, two towns", {"engine": "postgresql", "url": server.url(shared)}, args,
                      tmp / "towns", towns=True)
        finally:
            server.stop()
        if args.sqlite:
            bench("sqlite", {"path": str(tmp / "madoguchi.db")}, args, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
