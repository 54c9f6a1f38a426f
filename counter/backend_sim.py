"""`madoguchi backend-sim`: a reference core-system receiver for tests and demos.

It takes records the way a city's core system would under push mode (POST JSON with an
`Idempotency-Key` header), stores each key once in its own SQLite file and answers 200
`{"status": "duplicate"}` to a record it already has, so exactly-once delivery is
observable. It can misbehave on purpose: `--fail-rate` makes that share of requests fail
with one of `--failures` (500 answers, timeouts, dropped connections, slow answers), and
`--latency` delays every answer.

    POST /records        a record (JSON body, Idempotency-Key header)
    GET  /records        what was stored, with how often each key arrived
    GET  /stats          counts: stored, received, duplicates, injected failures
    DELETE /records      forget everything (benchmarks)
    GET  /healthz

Built on the standard library's HTTP server, because misbehaving (cutting a connection
without an answer) needs the raw socket.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
import signal
import socket
import sqlite3
import ssl
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

FAILURE_KINDS = ("500", "timeout", "drop", "slow")
RECORD_SCHEMA = "madoguchi.record/3"
OLDER_SCHEMAS = ("madoguchi.record/1", "madoguchi.record/2")   # rows confirmed before the upgrade
MAX_BODY = 4 * 1024 * 1024


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Store:
    """Received records in SQLite: `records` holds each key once, `receipts` every arrival."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(
            "CREATE TABLE IF NOT EXISTS records (idempotency_key TEXT PRIMARY KEY, received_at TEXT NOT NULL,"
            " sha256 TEXT NOT NULL, body TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS receipts (id INTEGER PRIMARY KEY, idempotency_key TEXT, at TEXT NOT NULL,"
            " sha256 TEXT, outcome TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS receipts_key ON receipts (idempotency_key);")
        self.lock = threading.Lock()

    def receipt(self, key: str | None, sha: str | None, outcome: str) -> None:
        with self.lock:
            self.conn.execute("INSERT INTO receipts (idempotency_key, at, sha256, outcome) VALUES (?, ?, ?, ?)",
                              [key, _now(), sha, outcome])

    def store(self, key: str, body: bytes) -> bool:
        """True when stored now, False when the key was already there (a duplicate)."""
        sha = hashlib.sha256(body).hexdigest()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO records (idempotency_key, received_at, sha256, body) VALUES (?, ?, ?, ?)",
                    [key, _now(), sha, body.decode("utf-8")])
                stored = cur.rowcount == 1
                self.conn.execute("INSERT INTO receipts (idempotency_key, at, sha256, outcome) VALUES (?, ?, ?, ?)",
                                  [key, _now(), sha, "stored" if stored else "duplicate"])
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return stored

    def records(self) -> list[dict]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT r.idempotency_key, r.received_at, r.sha256, r.body,"
                " (SELECT COUNT(*) FROM receipts x WHERE x.idempotency_key = r.idempotency_key"
                "  AND x.outcome IN ('stored', 'duplicate')) FROM records r ORDER BY r.received_at").fetchall()
        return [{"idempotency_key": k, "received_at": at, "sha256": sha, "times_received": n,
                 "record": json.loads(body)} for k, at, sha, body, n in rows]

    def stats(self) -> dict:
        with self.lock:
            stored = self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            outcomes = dict(self.conn.execute("SELECT outcome, COUNT(*) FROM receipts GROUP BY outcome").fetchall())
        return {"stored": stored, "received": sum(outcomes.values()), "duplicates": outcomes.get("duplicate", 0),
                "outcomes": outcomes}

    def reset(self) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM records")
            self.conn.execute("DELETE FROM receipts")


class Behaviour:
    def __init__(self, fail_rate=0.0, failures=FAILURE_KINDS, latency_ms=0.0, hang_seconds=60.0,
                 slow_seconds=5.0, auth_header="", seed=None):
        self.fail_rate = fail_rate
        self.failures = tuple(failures)
        self.latency = latency_ms / 1000.0
        self.hang_seconds = hang_seconds
        self.slow_seconds = slow_seconds
        self.auth_header = auth_header
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()

    def pick_failure(self) -> str | None:
        with self.rng_lock:
            if self.fail_rate > 0 and self.rng.random() < self.fail_rate:
                return self.rng.choice(self.failures)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would offer
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "madoguchi-backend-sim/1"

    # set on the subclass made by make_server
    store: Store
    behaviour: Behaviour

    def log_message(self, format, *args):  # quiet: tests and benchmarks read the store instead
        pass

    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        """Cut the connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._json(200, {"ok": True})
        elif path == "/records":
            records = self.store.records()
            self._json(200, {"count": len(records), "records": records})
        elif path == "/stats":
            self._json(200, self.store.stats())
        else:
            self._json(404, {"error": "not_found"})

    def do_DELETE(self):
        if self.path.split("?", 1)[0] == "/records":
            self.store.reset()
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/records":
            self._json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(413, {"error": "too_large"})
            self.close_connection = True
            return
        body = self.rfile.read(length)
        b = self.behaviour
        if b.auth_header and not hmac.compare_digest(self.headers.get("Authorization", "").encode(),
                                                     b.auth_header.encode()):
            self.store.receipt(None, None, "unauthorized")
            self._json(401, {"error": "unauthorized"})
            return
        key = self.headers.get("Idempotency-Key", "")
        try:
            record = json.loads(body)
        except ValueError:
            record = None
        if not key or not isinstance(record, dict) or record.get("schema") not in (RECORD_SCHEMA, *OLDER_SCHEMAS) \
                or record.get("idempotency_key") != key:
            self.store.receipt(key or None, None, "bad_request")
            self._json(400, {"error": "bad_request",
                             "message": f"a {RECORD_SCHEMA} JSON record and its Idempotency-Key header are required"})
            return
        if b.latency:
            time.sleep(b.latency)
        failure = b.pick_failure()
        sha = hashlib.sha256(body).hexdigest()
        if failure == "500":
            self.store.receipt(key, sha, "injected_500")
            self._json(500, {"error": "injected failure"})
            return
        if failure == "timeout":  # no answer for a long time, nothing stored
            self.store.receipt(key, sha, "injected_timeout")
            time.sleep(b.hang_seconds)
            self._drop()
            return
        stored = self.store.store(key, body)
        if failure == "drop":  # stored, but the sender never hears so and will resend
            self.store.receipt(key, sha, "injected_drop")
            self._drop()
            return
        if failure == "slow":
            self.store.receipt(key, sha, "injected_slow")
            time.sleep(b.slow_seconds)
        self._json(200, {"status": "stored" if stored else "duplicate", "idempotency_key": key})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that refuses our certificate or hangs up mid-request is not our error.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def make_server(store: Store, behaviour: Behaviour, host: str = "127.0.0.1", port: int = 0,
                tls_cert: str | None = None, tls_key: str | None = None) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"store": store, "behaviour": behaviour})
    server = Server((host, port), handler)
    server.daemon_threads = True
    if tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_cert, tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


@click.command("backend-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8900, show_default=True, help="Port (0 = any free port).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default="var/backend-sim.db",
              show_default=True, help="SQLite file the received records are kept in.")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of records answered with a failure (0–1).")
@click.option("--failures", default=",".join(FAILURE_KINDS), show_default=True,
              help="Failures to pick from: 500, timeout (no answer), drop (stored, connection cut), "
                   "slow (stored, late answer).")
@click.option("--latency", "latency_ms", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Milliseconds every record waits before it is handled.")
@click.option("--hang-seconds", type=click.FloatRange(0), default=60.0, show_default=True,
              help="How long a 'timeout' failure keeps the connection silent.")
@click.option("--slow-seconds", type=click.FloatRange(0), default=5.0, show_default=True,
              help="How late a 'slow' failure answers.")
@click.option("--auth-header", default="", help="Require this exact Authorization header (else 401).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Private key of --tls-cert.")
@click.option("--seed", type=int, default=None, help="Seed of the failure dice, for repeatable runs.")
def backend_sim(host, port, store_path, fail_rate, failures, latency_ms, hang_seconds, slow_seconds,
                auth_header, tls_cert, tls_key, seed):
    """A reference core-system receiver that stores what it gets and can fail on purpose."""
    kinds = tuple(k.strip() for k in failures.split(",") if k.strip())
    bad = [k for k in kinds if k not in FAILURE_KINDS]
    if bad or not kinds:
        raise click.BadParameter(f"choose from {', '.join(FAILURE_KINDS)}", param_hint="--failures")
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    store = Store(store_path)
    behaviour = Behaviour(fail_rate, kinds, latency_ms, hang_seconds, slow_seconds, auth_header, seed)
    server = make_server(store, behaviour, host, port, tls_cert, tls_key)
    scheme = "https" if tls_cert else "http"
    bound_port = server.server_address[1]
    click.echo(f"backend-sim: listening on {scheme}://{host}:{bound_port}/records (store: {store_path})")
    click.echo(f"backend-sim: fail-rate {fail_rate} ({', '.join(kinds)}), latency {latency_ms:g} ms")
    sys.stdout.flush()

    def terminate(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
