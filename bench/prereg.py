"""Pre-registration JSON API: submissions per second and latency on this machine.

Starts `madoguchi serve --surface prereg` on a free port with its own temporary database
(rate limit off: [prereg].submissions_per_minute = 0), sends valid applications to
POST /prereg/api/v1/applications from one client, and prints throughput, latency
percentiles and the token's length and QR version.
Targets: ≥ 200 submissions/s, p99 ≤ 100 ms.

    .venv/bin/python bench/prereg.py [--requests 2000] [--clients 1,4]
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import segno

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.sealed import count  # noqa: E402
from core.store.db import open_database  # noqa: E402
from tests.helpers import LiveServer, write_config  # noqa: E402

FORM = {"procedures": ["juminido"], "name": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ", "birth_date": "1985-04-01",
        "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－１", "phone": "03-1234-5678",
        "move_type": "tennyu", "move_date": "2026-11-01", "previous_postal_code": "0600000",
        "previous_address": "北海道札幌市中央区北１条西２丁目", "relationship_to_head": "head",
        "nationality_kind": "japanese", "notifier_type": "self",
        "household": [{"name": "山田\u3000花子", "kana": "ヤマダ\u3000ハナコ", "birth_date": "1987-09-12",
                       "sex": "female", "relationship": "spouse"}]}


def run(url: str, total: int, clients: int) -> tuple[float, list[float]]:
    """`clients` threads, each with one keep-alive connection (as a phone app keeps one).

    http.client rather than requests: the client shares this machine's two cores with the
    server, so it should cost as little as possible.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = total // clients
    parts = urlsplit(url)
    body = json.dumps(FORM, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        for _ in range(per_client):
            t = time.perf_counter()
            conn.request("POST", parts.path, body=body, headers=headers)
            r = conn.getresponse()
            answer = r.read()
            mine.append(time.perf_counter() - t)
            if r.status != 201:
                raise SystemExit(f"unexpected answer {r.status}: {answer[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", default="1,4", help="comma-separated numbers of concurrent clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = write_config(tmp / "config.toml", {
            "storage": {"path": str(tmp / "madoguchi.db")}, "keys": {"dir": str(tmp / "keys")},
            "prereg": {"submissions_per_minute": 0}, "site": {"folder": str(ROOT / "sites" / "demo")}})
        server = LiveServer(config, "prereg")
        try:
            url = server.url + "/prereg/api/v1/applications"
            run(url, 100, 1)  # warm up: imports, catalogue, first connections
            token = requests.post(url, json=FORM, timeout=10).json()["token"]
            qr = segno.make(token, error="q", micro=False, boost_error=False)
            print(f"token: {len(token)} characters (limit 64), QR {qr.mode} mode, version {qr.version} at level Q")
            ok = True
            for clients in (int(c) for c in args.clients.split(",")):
                elapsed, lat = run(url, args.requests, clients)
                rate = len(lat) / elapsed
                p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
                verdict = "ok" if rate >= 200 and p99 <= 100 else "BELOW TARGET"
                ok = ok and verdict == "ok"
                print(f"{clients} client(s): {len(lat)} submissions in {elapsed:.2f} s = {rate:.0f}/s; "
                      f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(lat) * 1000:.1f} ms, "
                      f"mean {statistics.mean(lat) * 1000:.1f} ms  [{verdict}; target ≥ 200/s, p99 ≤ 100 ms]")
            db = open_database(tmp / "madoguchi.db")
            print(f"stored: {count(db)} sealed applications, "
                  f"{(tmp / 'madoguchi.db').stat().st_size / 1e6:.1f} MB database file")
            db.conn.close()
        finally:
            server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
