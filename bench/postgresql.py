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
The same on SQLite for comparison with `--sqlite`. Runs as root (the cluster as the postgres
user) or as a user who may run PostgreSQL.
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
from core.config import load_config  # noqa: E402
from core.sealed import count  # noqa: E402
from core.store.db import open_from_config  # noqa: E402
from tests.fixtures_postgres import PostgresServer  # noqa: E402
from tests.helpers import LiveServer, write_config  # noqa: E402


def submits(config_file: Path, total: int, clients: int) -> tuple[float, list[float]]:
    """Two prereg servers; the clients split between them."""
    servers = [LiveServer(config_file, "prereg") for _ in range(2)]
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


def forwarding(config, config_file: Path, records: int, sim_port: int) -> tuple[float, dict]:
    """Two `madoguchi forward --once` processes deliver `records` confirmed applications."""
    db = open_from_config(config)
    confirm_many(db, records)
    env = dict(os.environ, MADOGUCHI_CONFIG=str(config_file))
    start = time.perf_counter()
    workers = [subprocess.Popen([MADOGUCHI, "forward", "--once"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE) for _ in range(2)]
    for w in workers:
        if w.wait(600) != 0:
            raise SystemExit(f"madoguchi forward failed: {w.stderr.read().decode()[-500:]}")
    elapsed = time.perf_counter() - start
    states = outbox.counts_by_state(db)
    intact = xlog.verify(db).ok
    db.conn.close()
    stats = requests.get(f"http://127.0.0.1:{sim_port}/stats", timeout=5).json()
    return elapsed, {"states": states, "log_intact": intact, **stats}


def bench(name: str, storage: dict, args, tmp: Path) -> None:
    sim_port = free_port()
    values = {"storage": storage, "keys": {"dir": str(tmp / "keys")},
              "prereg": {"submissions_per_minute": 0}, "site": {"folder": str(ROOT / "sites" / "demo")},
              "backend": {"mode": "push", "url": f"http://127.0.0.1:{sim_port}/records", "timeout_seconds": 5.0}}
    config_file = write_config(tmp / f"{name}.toml", values)
    config = load_config(config_file, base_dir=tmp)
    open_from_config(config).conn.close()         # migrated before two processes start

    elapsed, lat = submits(config_file, args.requests, args.clients)
    db = open_from_config(config)
    stored = count(db)
    db.conn.close()
    print(f"{name}: prereg submits, 2 processes, {args.clients} clients: {len(lat)} in {elapsed:.2f} s = "
          f"{len(lat) / elapsed:.0f}/s; latency p50 {percentile(lat, 50) * 1000:.1f} ms, "
          f"p99 {percentile(lat, 99) * 1000:.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms; "
          f"stored {stored} (with the warm-up's)")

    sim = start_sim(sim_port, tmp / f"{name}-sim.db")
    try:
        elapsed, result = forwarding(config, config_file, args.records, sim_port)
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        server = PostgresServer(durable=True)
        try:
            database = server.new_database()
            bench("postgresql", {"engine": "postgresql", "url": server.url(database)}, args, tmp)
        finally:
            server.stop()
        if args.sqlite:
            bench("sqlite", {"path": str(tmp / "madoguchi.db")}, args, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
