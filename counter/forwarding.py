"""Forwarding confirmed records to the core system (基幹システム).

`core.outbox.confirm` puts each confirmed application's record in the `outbox` table in the
same transaction as the confirmation. This worker delivers those rows:

- It claims one due row at a time with a lease (`leased_until`, `lease_owner`), so two
  workers never send the same row at once. A worker that dies mid-send leaves its row
  pending; the row is sent again, with the same idempotency key, once the lease runs out
  (at once when the dead worker was a process on this machine).
- Delivery, the application's move confirmed → forwarded and the `forward` exchange-log
  entry commit in one transaction; a crash before that commit means "not delivered yet",
  and the receiver's deduplication by idempotency key makes the resend harmless.
- Failures that may succeed later (5xx, 408, 429, timeouts, refused or dropped connections,
  an unwritable folder) are retried with exponential backoff and jitter, up to
  `[backend].backoff_max_seconds` between tries; `[backend].max_attempts` = 0 retries for
  ever. A refusal that retrying cannot fix (another 4xx) marks the row failed at once, so a
  clerk sees it and nobody hammers the core system.

Three ways out (`[backend].mode`): push (HTTP POST), file (one file per record, written
atomically) and pull (the core system polls `counter.pull_api`; nothing to do here).
The delivered document is the outbox record plus its `idempotency_key`
(docs/record.schema.json; docs/forwarding.md describes the protocol).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from core import exchange_log as xlog
from core import metrics, outbox
from core.application import State, utcnow
from core.clock import seconds_since
from core.errors import ConfigError
from core.outbox import backoff_seconds
from core.private_files import create_private, private_folder
from core.store.applications import ApplicationStore
from core.store.db import dropped, open_from_config, reopen_if_dropped, write

log = logging.getLogger("madoguchi.forwarding")

ACTOR = "system:forwarder"
# Extra lease time beyond the send timeout, so a slow but live worker keeps its row.
LEASE_MARGIN_SECONDS = 30.0
POLL_SECONDS = 1.0
USER_AGENT = "madoguchi-forwarder/1"


# ---------------------------------------------------------------- the delivered document

def document(row: dict[str, Any]) -> dict[str, Any]:
    """What the core system receives for one outbox row: the record plus its idempotency key."""
    doc = json.loads(row["record"])
    doc["idempotency_key"] = row["idempotency_key"]
    return doc


def canonical_bytes(doc: dict[str, Any]) -> bytes:
    """The exact bytes pushed and written to JSON Lines files. Their SHA-256 is the
    exchange log's `payload_sha256`, so the core system can match an entry to what it got."""
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """One CSV cell per scalar: objects add `.key`, lists add `[i]`, as in the JSON-form field
    paths (`data.household[1].birth_date`). null → empty cell, booleans → true/false."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key in value:
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        if not value:
            out[prefix] = ""
    elif value is None:
        out[prefix] = ""
    elif isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    else:
        out[prefix] = str(value)
    return out


# Envelope columns come first in this order; then every data.* and sources.* column, sorted.
CSV_LEADING_COLUMNS = ("schema", "idempotency_key", "application_id", "confirmed_at", "confirmed_by",
                       "channel", "reception_number")


def csv_bytes(doc: dict[str, Any]) -> bytes:
    """A header row and one data row (UTF-8, CRLF line ends per RFC 4180)."""
    cells = flatten(doc)
    leading = [c for c in CSV_LEADING_COLUMNS if c in cells]
    rest = sorted(c for c in cells if c not in leading)
    columns = leading + rest
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerow([cells[c] for c in columns])
    return buf.getvalue().encode("utf-8")


# ---------------------------------------------------------------- outcomes of one attempt

@dataclass
class Outcome:
    """What one delivery attempt came to.

    kind: "delivered" | "retry" | "rejected" (a permanent refusal).
    sent: whether the data may have reached the other side (then the attempt is logged).
    """

    kind: str
    error: str | None = None
    sent: bool = True
    retry_after: float | None = None
    detail: str | None = None


def delivered(detail: str | None = None) -> Outcome:
    return Outcome("delivered", detail=detail)


# Errors that say "the core system (or the folder) is unreachable", not "this record is bad".
# After one of them a pass stops instead of trying every other due record against a dead
# endpoint; the first success after them wakes every record they delayed.
UNREACHABLE_ERRORS = ("connection_refused", "connect_timeout", "timeout", "connection_dropped", "tls_error",
                      "http_502", "http_503", "http_504")


def is_unreachable(error: str | None) -> bool:
    return bool(error) and (error in UNREACHABLE_ERRORS or error.startswith("file_error"))


# ---------------------------------------------------------------- transports

class FileTransport:
    """One file per record in `[backend].folder`, named by its idempotency key.

    Written to a hidden temporary name in the same folder, fsynced, then renamed, so the core
    system never sees half a file; sending a record again replaces its file with the same
    bytes instead of adding a second one.
    """

    def __init__(self, config):
        self.folder = config.path(config.backend.folder)
        self.format = config.backend.file_format
        self.counterparty = f"folder:{self.folder}"

    def file_name(self, idempotency_key: str) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in idempotency_key)
        return f"{safe}.{'csv' if self.format == 'csv' else 'jsonl'}"

    def content(self, doc: dict[str, Any]) -> bytes:
        return csv_bytes(doc) if self.format == "csv" else canonical_bytes(doc) + b"\n"

    def send(self, doc: dict[str, Any], body: bytes) -> Outcome:
        try:
            write_atomically(self.folder / self.file_name(doc["idempotency_key"]), self.content(doc))
        except OSError as e:
            return Outcome("retry", error=f"file_error:{e.errno or 'unknown'}", sent=False,
                           detail=e.strerror or type(e).__name__)
        return delivered()

    def close(self) -> None:
        pass


def write_atomically(path: Path, data: bytes) -> None:
    private_folder(path.parent)   # the outbox holds personal data: 0600 files in a 0700 folder
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with os.fdopen(create_private(tmp), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The rename itself must reach the disk too.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# HTTP statuses worth retrying; every other 4xx is a refusal retrying cannot fix.
RETRYABLE_4XX = {408, 425, 429}


class PushTransport:
    """JSON over HTTP(S) POST to `[backend].url`, with the `Idempotency-Key` header.

    2xx means received; 409 means "already have it" (a duplicate) and counts as delivered.
    """

    def __init__(self, config):
        import requests

        b = config.backend
        if not b.url:
            raise ConfigError("backend.url must be set when backend.mode is push", key="backend.url")
        parts = urlsplit(b.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("backend.url must be an http:// or https:// URL", key="backend.url")
        self.url = b.url
        self.counterparty = parts.netloc
        self.timeout = float(b.timeout_seconds)
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json; charset=utf-8",
                                     "Accept": "application/json"})
        if config.keys.backend_auth_header:
            self.session.headers["Authorization"] = config.keys.backend_auth_header
        # The environment (proxies, CA bundle) is read once here rather than on every
        # request, which costs requests a scan of os.environ per call.
        self.session.trust_env = False
        self.proxies = requests.utils.get_environ_proxies(self.url)
        if b.ca_file:
            self.verify: str | bool = str(config.path(b.ca_file))
        elif b.verify_tls:
            self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        else:
            self.verify = False
        if not b.verify_tls and not b.ca_file:
            log.warning("TLS certificates of the core system are NOT verified (backend.verify_tls = false)")

    def send(self, doc: dict[str, Any], body: bytes) -> Outcome:
        import requests

        try:
            resp = self.session.post(self.url, data=body, timeout=self.timeout, allow_redirects=False,
                                     verify=self.verify, proxies=self.proxies,
                                     headers={"Idempotency-Key": doc["idempotency_key"]})
        except requests.exceptions.SSLError:
            return Outcome("retry", error="tls_error", sent=False)
        except requests.exceptions.ConnectTimeout:
            return Outcome("retry", error="connect_timeout", sent=False)
        except requests.exceptions.ReadTimeout:
            return Outcome("retry", error="timeout", sent=True)
        except requests.exceptions.ConnectionError as e:
            if _connection_never_made(e):
                return Outcome("retry", error="connection_refused", sent=False)
            return Outcome("retry", error="connection_dropped", sent=True)
        except requests.exceptions.RequestException as e:
            return Outcome("retry", error=f"http_error:{type(e).__name__}", sent=True)
        status = resp.status_code
        resp.close()
        if 200 <= status < 300:
            return delivered(_duplicate_note(resp))
        if status == 409:
            return delivered("duplicate")
        if status >= 500 or status in RETRYABLE_4XX:
            return Outcome("retry", error=f"http_{status}", retry_after=_retry_after(resp))
        return Outcome("rejected", error=f"http_{status}")

    def close(self) -> None:
        self.session.close()


def _connection_never_made(exc: BaseException) -> bool:
    """True when the TCP connection was never established, so nothing was sent."""
    import urllib3

    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError,
                          ConnectionRefusedError, socket.gaierror)):
            return True
        stack += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
        stack += [getattr(e, "reason", None), e.__cause__, e.__context__]
    return False


def _duplicate_note(resp) -> str | None:
    try:
        return "duplicate" if resp.json().get("status") == "duplicate" else None
    except (ValueError, AttributeError):
        return None


def _retry_after(resp) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def make_transport(config):
    mode = config.backend.mode
    if mode == "push":
        return PushTransport(config)
    if mode == "file":
        return FileTransport(config)
    return None  # pull: the core system fetches through counter.pull_api


# ---------------------------------------------------------------- the worker

def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def record_delivery(db: sqlite_utils.Database, config, row: dict[str, Any], counterparty: str,
                    payload: bytes | dict, owner: str | None = None) -> bool:
    """Mark a row delivered, move its application to forwarded and log the transfer, in one
    transaction. False when the row was already delivered (by another worker or an earlier ack)."""
    with write(db):
        if not outbox.mark_delivered(db, row["id"], utcnow()):
            return False
        store = ApplicationStore(db)
        app = store.find(row["application_id"])
        if app is not None and app.state is State.CONFIRMED:
            app.transition(State.FORWARDED, actor=ACTOR)
            store.save(app)
        record = json.loads(row["record"])
        xlog.append(db, config, actor=ACTOR, counterparty=counterparty, purpose="forward",
                    application_id=row["application_id"], payload=payload, result="ok",
                    person=xlog.Person.of(record.get("data") or {}))
    return True


class Forwarder:
    """Delivers due outbox rows through the configured transport."""

    def __init__(self, config, db: sqlite_utils.Database | None = None, transport=None,
                 rng: random.Random | None = None, owner: str | None = None):
        self.config = config
        self.senders = int(config.backend.senders)
        if self.senders < 1:
            raise ConfigError("backend.senders must be 1 or more", key="backend.senders")
        self.transport = transport if transport is not None else make_transport(config)
        self._owns_db = db is None
        self.db = db or open_from_config(config)
        self.owner = owner or owner_id()
        self.rng = rng or random.Random()
        self.lease_seconds = float(config.backend.timeout_seconds) + LEASE_MARGIN_SECONDS
        self._lanes: list[Forwarder] = []  # the other senders: own connection and transport each

    # -- claiming

    def release_dead_leases(self) -> int:
        """Free rows leased by a worker process on this machine that no longer runs (kill -9,
        power cut of the process), so its rows are resent now instead of when the lease ends."""
        host = socket.gethostname()
        freed = 0
        for owner in outbox.lease_owners(self.db):
            parts = owner.rsplit(":", 2)
            if len(parts) != 3 or parts[0] != host or owner == self.owner:
                continue
            try:
                pid = int(parts[1])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                freed += outbox.release_leases(self.db, owner)
        if freed:
            log.info("released %d record(s) held by a stopped worker", freed)
        return freed

    def claim(self, due_by: datetime | None = None) -> dict[str, Any] | None:
        """Lease the next row due by `due_by` (default now), in one statement, so it is
        atomic between processes. A pass gives `due_by` = its start, so a row it just
        failed (and rescheduled) waits for the next pass instead of spinning."""
        now = utcnow()
        until = now + timedelta(seconds=self.lease_seconds)
        return outbox.claim_next(self.db, self.owner, now=now, until=until, due_by=due_by or now)

    # -- one row

    def deliver(self, row: dict[str, Any]) -> Outcome:
        doc = document(row)
        body = canonical_bytes(doc)
        try:
            outcome = self.transport.send(doc, body)
        except Exception as e:  # a bug or an unexpected library error: keep the row, try later
            log.exception("unexpected error sending outbox row %s", row["id"])
            outcome = Outcome("retry", error=f"internal:{type(e).__name__}", sent=False)
        if outcome.kind == "delivered":
            if not record_delivery(self.db, self.config, row, self.transport.counterparty, doc, self.owner):
                log.info("outbox row %s was already delivered by another worker", row["id"])
            if is_unreachable(row["last_error"]):
                self.wake_delayed()
        else:
            self._record_failure(row, doc, outcome)
        return outcome

    def wake_delayed(self) -> int:
        """The core system is back: make every record an outage delayed due now, instead of
        each waiting out its own backoff (up to backoff_max_seconds)."""
        n = outbox.make_due(self.db, errors=UNREACHABLE_ERRORS, error_prefix="file_error", at=utcnow())
        if n:
            log.info("the core system answers again: %d delayed record(s) are due now", n)
        return n

    def _record_failure(self, row: dict[str, Any], doc: dict[str, Any], outcome: Outcome) -> None:
        b = self.config.backend
        now = utcnow()
        attempts = int(row["attempts"] or 0) + 1
        give_up = outcome.kind == "rejected" or (b.max_attempts and attempts >= b.max_attempts)
        error = outcome.error or "unknown"
        with write(self.db):
            if give_up:
                noted = outbox.mark_failed(self.db, row["id"], attempts=attempts, error=error, at=now)
            else:
                delay = backoff_seconds(attempts, float(b.backoff_initial_seconds), float(b.backoff_max_seconds),
                                        self.rng)
                if outcome.retry_after:
                    delay = min(max(delay, outcome.retry_after), float(b.backoff_max_seconds))
                noted = outbox.reschedule(self.db, row["id"], attempts=attempts, error=error, at=now,
                                          next_attempt_at=now + timedelta(seconds=delay))
            # Data that may have left the building is a transfer, even when it failed.
            if noted and outcome.sent:
                xlog.append(self.db, self.config, actor=ACTOR, counterparty=self.transport.counterparty,
                            purpose="forward", application_id=row["application_id"], payload=doc, result="failed",
                            person=xlog.Person.of(doc.get("data") or {}))
        level = logging.WARNING if give_up else logging.INFO
        log.log(level, "outbox row %s: %s (attempt %d)%s", row["id"], error, attempts,
                ", giving up" if give_up else "")

    # -- loops

    def run_once(self, stop: threading.Event | None = None, limit: int | None = None) -> dict[str, int]:
        """Deliver every row that is due now; returns counts by outcome."""
        counts = {"delivered": 0, "retry": 0, "rejected": 0}
        if self.transport is None:
            return counts
        self.release_dead_leases()
        started = utcnow()
        lanes = 1 if limit is not None else min(self.senders, self._due_count(started))
        if lanes <= 1:
            self._drain(started, stop, limit, counts, threading.Event())
            return counts
        while len(self._lanes) < lanes - 1:
            self._lanes.append(Forwarder(self.config, owner=self.owner))
        lane_counts = [dict.fromkeys(counts, 0) for _ in range(lanes)]
        unreachable = threading.Event()
        threads = [threading.Thread(target=lane._drain_logged, args=(started, stop, c, unreachable), daemon=True,
                                    name=f"madoguchi-sender-{i}")
                   for i, (lane, c) in enumerate(zip([self, *self._lanes], lane_counts, strict=False))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in lane_counts:
            for k, v in c.items():
                counts[k] += v
        return counts

    def _due_count(self, due_by: datetime) -> int:
        return outbox.due_count(self.db, due_by, at_most=64)

    def _drain(self, started: datetime, stop: threading.Event | None, limit: int | None,
               counts: dict[str, int], unreachable: threading.Event) -> None:
        done = 0
        while not (stop and stop.is_set()) and not unreachable.is_set() and (limit is None or done < limit):
            row = self.claim(due_by=started)
            if row is None:
                break
            outcome = self.deliver(row)
            counts[outcome.kind] += 1
            done += 1
            if outcome.kind == "retry" and is_unreachable(outcome.error):
                unreachable.set()  # the others would fail the same way: try again next pass

    def _reopen_if_dropped(self) -> bool:
        """A new connection (its own: a caller's stays the caller's) when the server dropped it."""
        if not self._owns_db or not dropped(self.db):
            return False
        self.db = reopen_if_dropped(self.db, self.config)
        return True

    def _drain_logged(self, started: datetime, stop: threading.Event | None, counts: dict[str, int],
                      unreachable: threading.Event) -> None:
        self._reopen_if_dropped()    # a lane's connection idles between passes
        try:
            self._drain(started, stop, None, counts, unreachable)
        except Exception:  # e.g. the database locked too long: the row's lease runs out, it is resent
            log.exception("a sender stopped early in this pass")

    def seconds_until_due(self) -> float | None:
        due = outbox.next_due_at(self.db)
        return None if due is None else max(0.0, (due - utcnow()).total_seconds())

    def run(self, stop: threading.Event, poll_seconds: float = POLL_SECONDS,
            on_pass: Callable[[dict[str, int]], None] | None = None) -> None:
        """Deliver until `stop` is set, checking for new records every `poll_seconds`."""
        while not stop.is_set():
            try:
                try:
                    counts = self.run_once(stop)
                except Exception:
                    if not self._reopen_if_dropped():
                        raise
                    counts = self.run_once(stop)   # the server dropped the connection since the last pass
                if on_pass and any(counts.values()):
                    on_pass(counts)
                due = self.seconds_until_due()
            except Exception:  # e.g. the database locked for too long: keep the worker alive
                log.exception("forwarding pass failed")
                due = None
            wait = poll_seconds if due is None else min(poll_seconds, due)
            stop.wait(max(0.05, wait))

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()
        self._lanes.clear()
        if self.transport is not None:
            self.transport.close()
        if self._owns_db:
            self.db.conn.close()


# ---------------------------------------------------------------- status for clerks and operators

def status(db: sqlite_utils.Database) -> dict[str, Any]:
    """Counts by state, the oldest waiting record and the failed ones (no personal data)."""
    counts = outbox.counts_by_state(db)
    return {
        "pending": counts.get("pending", 0), "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0), "oldest_pending_since": outbox.oldest_pending_since(db),
        "failed_records": outbox.failed(db), "retrying": outbox.retrying(db),
    }


def oldest_pending_age_seconds(db: sqlite_utils.Database) -> float | None:
    return seconds_since(outbox.oldest_pending_since(db))


def health(db: sqlite_utils.Database, config) -> dict[str, Any]:
    """/healthz's outbox check: not ok when a record waits longer than the monitoring allows,
    or one was given up on (a clerk must look at it)."""
    counts = outbox.counts_by_state(db)
    age = oldest_pending_age_seconds(db)
    too_old = age is not None and age > config.monitoring.outbox_max_age_minutes * 60
    return {"ok": not too_old and not counts.get("failed"), "pending": counts.get("pending", 0),
            "failed": counts.get("failed", 0),
            "oldest_pending_age_seconds": None if age is None else round(age)}


def set_metrics(db: sqlite_utils.Database) -> None:
    """The outbox's gauges for /metrics, read at scrape time."""
    counts = outbox.counts_by_state(db)
    for state in ("pending", "delivered", "failed"):
        metrics.OUTBOX_DEPTH.labels(state=state).set(counts.get(state, 0))
    metrics.OUTBOX_OLDEST_AGE.set(oldest_pending_age_seconds(db) or 0)


# ---------------------------------------------------------------- the service in `madoguchi serve`

def start_service(app) -> Callable[[], None] | None:
    """`web.add_service` hook: a thread delivering records while the server runs."""
    config = app.config["MADOGUCHI"]
    if config.backend.mode == "pull" or not config.backend.forward_in_server:
        return None     # pull: the core system fetches; or madoguchi-forwarder.service delivers
    stop = threading.Event()
    forwarder = Forwarder(config)

    def loop():
        try:
            forwarder.run(stop)
        finally:
            forwarder.close()

    thread = threading.Thread(target=loop, name="madoguchi-forwarder", daemon=True)
    thread.start()
    log.info("forwarding records (%s mode)", config.backend.mode)

    def stop_service():
        stop.set()
        thread.join(timeout=float(config.backend.timeout_seconds) + 5)
    return stop_service
