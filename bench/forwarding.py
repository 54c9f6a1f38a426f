"""Forwarding benchmark: records per second delivered with exchange logging, and the time
to catch up after the core system comes back.

    .venv/bin/python bench/forwarding.py [--records 2000] [--outage-records 500] [--outage-seconds 5]
                                         [--backoff-max 5]

Through the real stack: a `madoguchi backend-sim` process receives (push mode, HTTP,
deduplicating by Idempotency-Key into its SQLite file); the worker is `counter.forwarding`
as `madoguchi forward` runs it, with every delivery committing the outbox row, the
application's move to forwarded and a hash-chained exchange-log entry in one transaction.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import exchange_log as xlog  # noqa: E402
from core import outbox  # noqa: E402
from core.application import Application, Source, State  # noqa: E402
from core.config import load_config  # noqa: E402
from core.outbox import confirm  # noqa: E402
from core.store.applications import ApplicationStore  # noqa: E402
from core.store.db import open_from_config, write  # noqa: E402
from counter import forwarding  # noqa: E402

MADOGUCHI = str(Path(sys.executable).parent / "madoguchi")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(port: int, store: Path, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([MADOGUCHI, "backend-sim", "--port", str(port), "--store", str(store), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("backend-sim did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


def confirm_many(db, n: int) -> None:
    store = ApplicationStore(db)
    with write(db):
        for i in range(n):
            app = Application.create(
                ["juminhyo"], {"name": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ", "birth_date": "1985-04-01",
                               "sex": "male", "postal_code": "1000001", "address": f"東京都千代田区千代田{i}",
                               "juminhyo_scope": "self", "juminhyo_copies": 1, "juminhyo_purpose": "pension"},
                Source.CARD, actor="bench", channel="kiosk")
            app.transition(State.SUBMITTED, actor="bench")
            app.transition(State.PRINTED, actor="bench")
            store.save(app)
            confirm(db, app, actor="clerk:bench")


def delivered(db) -> int:
    return outbox.counts_by_state(db).get("delivered", 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--outage-records", type=int, default=500)
    ap.add_argument("--outage-seconds", type=float, default=5.0)
    ap.add_argument("--backoff-max", type=float, default=300.0, help="as in config.toml")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="madoguchi-bench-fwd-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/records"
    config = load_config(ROOT / "config.toml", base_dir=tmp, overrides={
        "storage": {"path": str(tmp / "madoguchi.db")}, "keys": {"dir": str(tmp / "keys")},
        "backend": {"mode": "push", "url": url, "timeout_seconds": 5.0,
                    "backoff_initial_seconds": 1.0, "backoff_max_seconds": args.backoff_max}})
    db = open_from_config(config)
    sim = start_sim(port, tmp / "sim.db")
    try:
        # 1. Sustained throughput, push mode, one worker with [backend].senders connections.
        for senders in (config.backend.senders, 1):
            confirm_many(db, args.records)
            forwarder = forwarding.Forwarder(config.replace({"backend": {"senders": senders}}))
            t0 = time.perf_counter()
            counts = forwarder.run_once()
            elapsed = time.perf_counter() - t0
            forwarder.close()
            assert counts["delivered"] == args.records, counts
            stored = requests.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()["stored"]
            print(f"push throughput, senders={senders}: {args.records} records in {elapsed:.2f} s = "
                  f"{args.records / elapsed:.0f} records/s (target >= 100/s) — backend stored {stored} in all, "
                  f"exchange log {'intact' if xlog.verify(db).ok else 'BROKEN'}")

        # 1b. A core system across the network: every answer takes 20 ms.
        stop(sim)
        sim = start_sim(port, tmp / "sim.db", "--latency", "20")
        n = args.records // 2
        confirm_many(db, n)
        forwarder = forwarding.Forwarder(config)
        t0 = time.perf_counter()
        counts = forwarder.run_once()
        elapsed = time.perf_counter() - t0
        forwarder.close()
        print(f"push throughput, 20 ms backend latency, senders={config.backend.senders}: {counts['delivered']} "
              f"records in {elapsed:.2f} s = {counts['delivered'] / elapsed:.0f} records/s")
        stop(sim)
        sim = start_sim(port, tmp / "sim.db")

        # 2. The same in file mode (JSON Lines, fsync + rename per record).
        file_config = config.replace({"backend": {"mode": "file", "folder": str(tmp / "outbox")}})
        confirm_many(db, args.records)
        t0 = time.perf_counter()
        file_forwarder = forwarding.Forwarder(file_config)
        counts = file_forwarder.run_once()
        elapsed = time.perf_counter() - t0
        file_forwarder.close()
        print(f"file throughput: {counts['delivered']} records in {elapsed:.2f} s = "
              f"{counts['delivered'] / elapsed:.0f} records/s (fsync per file)")

        # 3. Recovery: the backend is down while records pile up, then comes back.
        stop(sim)
        confirm_many(db, args.outage_records)
        before = delivered(db)
        stop_event = threading.Event()
        worker = threading.Thread(target=forwarding.Forwarder(config).run, args=(stop_event,), daemon=True)
        worker.start()
        time.sleep(args.outage_seconds)
        sim = start_sim(port, tmp / "sim.db")
        back = time.perf_counter()
        first = None
        while (done := delivered(db)) < before + args.outage_records:
            if first is None and done > before:
                first = time.perf_counter() - back
            time.sleep(0.01)
        recovery = time.perf_counter() - back
        first = recovery if first is None else first
        stop_event.set()
        worker.join(10)
        stats = requests.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()
        print(f"recovery: {args.outage_records} records queued during a {args.outage_seconds:g} s outage "
              f"all delivered {recovery:.2f} s after the backend returned (first after {first:.2f} s; "
              f"backoff {config.backend.backoff_initial_seconds:g}"
              f"–{args.backoff_max:g} s; the first success wakes every delayed record) — backend stored "
              f"{stats['stored']} of {2 * args.records + args.records // 2 + args.outage_records} pushed, "
              f"duplicates {stats['duplicates']}")
    finally:
        stop(sim)
        db.conn.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
