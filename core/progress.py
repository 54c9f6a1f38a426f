"""Progress (進捗): the resident follows their application on the phone.

The office records a push on every state change of an application, in the transaction of the
change (`ApplicationStore.save` calls `record_changes`); the internet side (prereg) keeps only
what a push carries and shows it on the status page:

    application id, seq (per application, counting up), step, at (UTC),
    sealed = nonce + AES-GCM(status key, {"bring": [codes], "note": text | None, "entries": [...]})

Steps: received (受付済: submitted at a kiosk, or the pre-registration opened at the office),
printed, confirmed, forwarded; or rejected (差戻し) / cancelled. No name, no answer, never a
payload: an entry of the exchange log goes as its id, at, purpose, counterparty, result and the
names of its fields. The associated data binds the sealed detail to its id, seq, step and time,
so a row changed on the internet side does not open.

The status key is never stored on the internet side: for a pre-registration it is derived from
the AES key in the resident's token (`prereg_status_key`, HKDF), so the prereg QR opens the
page; for any other application it is random, made when the application is first stored and
kept here (table `progress_keys`, office side), and printed on the kiosk's slip as a status token
(core.tokens `MDGS1:`). Neither key is ever logged.

Delivery: with `[prereg].server_url` empty the prereg side is this database and a push is moved
from the queue (`progress_queue`, office side) into `progress_steps` directly; otherwise the
worker (`run`, a service of the counter under `madoguchi serve`) posts each to `POST /prereg/api/v1/progress`
with the office API key, retrying with backoff, so a prereg server that is down loses nothing.
`accept` (the prereg side) keeps every seq once: a replay or an older push never replaces the
state of a newer one (the status page shows the highest seq).

Tables: `progress_keys` (application_id, key, seq) and `progress_queue` on the office side;
`progress_steps` (application_id, seq, step, at, sealed) on the internet side, purged
`[retention].progress_days` after an application's last step (`purge`).
"""
from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlite_utils.migrations import Migrations

from core.application import Application, Event, State, is_application_id, iso, utcnow
from core.errors import MadoguchiError
from core.store.db import write
from core.tokens import KEY_BYTES, STATUS_PREFIX, TokenError, encode_status_token

migrations = Migrations("core.progress")
log = logging.getLogger("madoguchi.progress")

STEPS = ("received", "printed", "confirmed", "forwarded")
ENDS = ("rejected", "cancelled")
STEP_OF_STATE = {State.SUBMITTED: "received", State.PRINTED: "printed", State.CONFIRMED: "confirmed",
                 State.FORWARDED: "forwarded", State.REJECTED: "rejected", State.CANCELLED: "cancelled"}
API_PATH = "/prereg/api/v1/progress"
# The status page's short path, at the root of the prereg server: the QR's URL stays at
# version 6 (level Q) with a 40-character host. prereg also answers /prereg/s/<token>.
STATUS_PATH = "/S/"
NONCE_BYTES = 12
MAX_SEALED_BYTES = 32 * 1024
# The note kind on an application that carries what the resident is told with a rejection.
RESIDENT_NOTE = "resident_note"
ENTRY_KEYS = ("id", "at", "purpose", "counterparty", "result", "fields")


@migrations()
def m001_progress(db: sqlite_utils.Database) -> None:
    db.table("progress_keys").create({"application_id": str, "key": bytes, "seq": int}, pk="application_id")
    db.table("progress_queue").create(
        {"id": int, "application_id": str, "seq": int, "step": str, "at": str, "detail": str,
         "attempts": int, "next_attempt_at": str, "last_error": str}, pk="id")
    db.table("progress_queue").create_index(["next_attempt_at"])
    db.table("progress_steps").create(
        {"application_id": str, "seq": int, "step": str, "at": str, "sealed": bytes},
        pk=("application_id", "seq"))
    db.table("progress_steps").create_index(["at"])


class PushRefused(MadoguchiError):
    """A push the prereg side does not take: code bad_push (the body), with field in details."""

    code = "bad_push"


@dataclass(frozen=True)
class Step:
    seq: int
    step: str
    at: datetime


@dataclass(frozen=True)
class Progress:
    """What the status page shows: the steps reached, oldest first, and the newest detail."""

    application_id: str
    steps: list[Step]
    detail: dict[str, Any]

    @property
    def current(self) -> str | None:
        return self.steps[-1].step if self.steps else None


# --- keys -------------------------------------------------------------------------------------

def prereg_status_key(prereg_key: bytes, app_id: str) -> bytes:
    """The status key of a pre-registration, from the key in its token: the QR opens its page,
    and the page's key says nothing about the key that opens the answers."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=f"madoguchi progress {app_id}".encode("ascii")).derive(prereg_key)


def remember_key(db: sqlite_utils.Database, app_id: str, key: bytes) -> None:
    with write(db):
        db.execute("INSERT INTO progress_keys (application_id, key, seq) VALUES (?, ?, 0)"
                   " ON CONFLICT DO NOTHING", [app_id, key])


def key_for(db: sqlite_utils.Database, app_id: str) -> bytes | None:
    row = db.execute("SELECT key FROM progress_keys WHERE application_id = ?", [app_id]).fetchone()
    return bytes(row[0]) if row else None


def ensure_key(db: sqlite_utils.Database, app_id: str) -> bytes:
    """The application's status key, a random one made now if it has none (office side)."""
    with write(db):
        remember_key(db, app_id, secrets.token_bytes(KEY_BYTES))
        key = key_for(db, app_id)
    assert key is not None
    return key


# --- the office side: recording pushes -------------------------------------------------------

def record(db: sqlite_utils.Database, app_id: str, step: str, at: datetime, *,
           bring: Iterable[str] = (), note: str | None = None) -> int:
    """Queue a push of `step` for `app_id` (joins the caller's transaction); returns its seq."""
    with write(db):
        ensure_key(db, app_id)
        db.execute("UPDATE progress_keys SET seq = seq + 1 WHERE application_id = ?", [app_id])
        seq = db.execute("SELECT seq FROM progress_keys WHERE application_id = ?", [app_id]).fetchone()[0]
        db.execute("INSERT INTO progress_queue (application_id, seq, step, at, detail, attempts, next_attempt_at)"
                   " VALUES (?, ?, ?, ?, ?, 0, ?)",
                   [app_id, seq, step, iso(at), json.dumps({"bring": list(bring), "note": note}, ensure_ascii=False),
                    iso(utcnow())])
    return seq


def record_changes(db: sqlite_utils.Database, app: Application, events: list[Event]) -> None:
    """The pushes of the state changes in `events` (ApplicationStore.save, in its transaction).

    A new application gets its random status key here unless it has one (a pre-registration's,
    remembered when it was opened)."""
    told = next((ev.new for ev in events if ev.kind == RESIDENT_NOTE and isinstance(ev.new, dict)), {})
    for ev in events:
        if ev.kind == "created":
            ensure_key(db, app.id)
        if ev.kind != "state":
            continue
        step = STEP_OF_STATE.get(State(ev.new))
        if step == "received" and _received(db, app.id):
            continue  # a pre-registration was received when the office opened it
        if step:
            record(db, app.id, step, ev.at, bring=told.get("bring", []) if step == "rejected" else (),
                   note=told.get("note") if step == "rejected" else None)


def _received(db: sqlite_utils.Database, app_id: str) -> bool:
    """Whether a push was recorded for `app_id` already: 受付済 is always its first."""
    return db.execute("SELECT 1 FROM progress_keys WHERE application_id = ? AND seq > 0",
                      [app_id]).fetchone() is not None


def prereg_received(db: sqlite_utils.Database, app_id: str, prereg_key: bytes, at: datetime | None = None, *,
                    push: bool = True) -> None:
    """The office opened a pre-registration: remember its status key and push 受付済 (once).

    `push=False` on a kiosk PC: it keeps the key for the slip and uploads it; the office pushes."""
    with write(db):
        remember_key(db, app_id, prereg_status_key(prereg_key, app_id))
        if push and not _received(db, app_id):
            record(db, app_id, "received", at or utcnow())


def status_token(db: sqlite_utils.Database, app_id: str) -> str:
    """The slip's status token (MDGS1) of an application, under its status key (made now if none)."""
    return encode_status_token(app_id, ensure_key(db, app_id))


def status_url(base: str, token: str) -> str:
    """The status page's URL for a QR code: scheme and host upper case (they are case-blind),
    so the whole URL stays in the QR's compact alphanumeric mode."""
    parts = urlsplit(base.strip().rstrip("/"))
    return f"{parts.scheme.upper()}://{parts.netloc.upper()}{parts.path}{STATUS_PATH}{token}"


# --- the sealed detail -----------------------------------------------------------------------

def _aad(app_id: str, seq: int, step: str, at: str) -> bytes:
    return f"{STATUS_PREFIX}{app_id}|{seq}|{step}|{at}".encode("ascii")


def seal_detail(key: bytes, app_id: str, seq: int, step: str, at: str, detail: dict[str, Any]) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    plain = json.dumps(detail, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return nonce + AESGCM(key).encrypt(nonce, plain, _aad(app_id, seq, step, at))


def open_detail(key: bytes, app_id: str, seq: int, step: str, at: str, sealed: bytes) -> dict[str, Any]:
    """The decrypted detail; TokenError wrong_key when the key (or the row) does not fit."""
    try:
        plain = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(app_id, seq, step, at))
    except (InvalidTag, ValueError):
        raise TokenError("the key does not open this application's progress", code="wrong_key") from None
    return json.loads(plain.decode("utf-8"))


def resident_entries(db: sqlite_utils.Database, app_id: str) -> list[dict[str, Any]]:
    """The application's exchange-log entries as the resident may see them (core.exchange_view's
    detail): no payload, no subject, and of the actor only its kind (a clerk's section is shown,
    never the clerk's account)."""
    from core import exchange_log as xlog
    from core import exchange_view
    from core.errors import NotFound
    from core.store.applications import ApplicationStore
    try:
        procedures = ApplicationStore(db).get(app_id).procedures
    except NotFound:
        procedures = []
    out = []
    for e in xlog.entries(db, app_id):
        actor_kind = str(e.get("actor") or "").partition(":")[0]
        out.append(exchange_view.detail({**e, "actor": actor_kind, "procedures": procedures}))
    return out


def push_body(db: sqlite_utils.Database, row: dict[str, Any]) -> dict[str, Any]:
    """The push of a queued row, sealed now (its entries are the log's as it is sent)."""
    key = key_for(db, row["application_id"])
    assert key is not None  # record() made it
    detail = {**json.loads(row["detail"]), "entries": resident_entries(db, row["application_id"])}
    sealed = seal_detail(key, row["application_id"], row["seq"], row["step"], row["at"], detail)
    return {"application_id": row["application_id"], "seq": row["seq"], "step": row["step"], "at": row["at"],
            "sealed": base64.b64encode(sealed).decode("ascii")}


# --- the internet side: taking pushes, showing them ------------------------------------------

def accept(db: sqlite_utils.Database, body: Any) -> bool:
    """Keep a push (prereg side); False when that seq is kept already (a replay). PushRefused."""
    if not isinstance(body, dict):
        raise PushRefused("a push is a JSON object", field="body")
    app_id, seq, step, at, sealed = (body.get(k) for k in ("application_id", "seq", "step", "at", "sealed"))
    if not isinstance(app_id, str) or not is_application_id(app_id):
        raise PushRefused("not an application id", field="application_id")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 1_000_000:
        raise PushRefused("seq must be a positive integer", field="seq")
    if step not in STEPS + ENDS:
        raise PushRefused("unknown step", field="step")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) and len(at) <= 40 else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise PushRefused("at must be an ISO time with its offset", field="at")
    try:
        raw = base64.b64decode(sealed, validate=True) if isinstance(sealed, str) else b""
    except ValueError:
        raw = b""
    if not NONCE_BYTES + 16 <= len(raw) <= MAX_SEALED_BYTES:
        raise PushRefused("sealed must be base64 of the sealed detail", field="sealed")
    with write(db):
        cur = db.execute("INSERT INTO progress_steps (application_id, seq, step, at, sealed)"
                         " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", [app_id, seq, step, at, raw])
    return cur.rowcount == 1


def progress_of(db: sqlite_utils.Database, app_id: str, key: bytes) -> Progress | None:
    """The progress of `app_id` opened with its status key; None when nothing was pushed.

    Raises TokenError wrong_key when the key does not open the newest push."""
    if not is_application_id(app_id):
        return None
    rows = list(db.query("SELECT seq, step, at, sealed FROM progress_steps WHERE application_id = ?"
                         " ORDER BY seq", [app_id]))
    if not rows:
        return None
    newest = rows[-1]
    detail = open_detail(key, app_id, newest["seq"], newest["step"], newest["at"], bytes(newest["sealed"]))
    steps: dict[str, Step] = {}
    for r in rows:   # each step once, at its first time; a later push of an earlier step changes nothing
        steps.setdefault(r["step"], Step(r["seq"], r["step"], datetime.fromisoformat(r["at"])))
    ordered = sorted(steps.values(), key=lambda s: s.seq)
    return Progress(app_id, ordered, {"bring": list(detail.get("bring") or []), "note": detail.get("note"),
                                      "entries": list(detail.get("entries") or [])})


def purge(db: sqlite_utils.Database, *, days: int, now: datetime | None = None) -> int:
    """Delete the progress of applications whose last step is older than `days`; returns how many."""
    cutoff = iso((now or utcnow()) - timedelta(days=days))
    with write(db):
        cur = db.execute("DELETE FROM progress_steps WHERE application_id IN (SELECT application_id FROM"
                         " progress_steps GROUP BY application_id HAVING max(at) <= ?)", [cutoff])
    return cur.rowcount


# --- delivery ---------------------------------------------------------------------------------

Send = Callable[[dict[str, Any]], None]


def deliver_pending(db: sqlite_utils.Database, config, *, send: Send | None = None,
                    now: datetime | None = None, limit: int = 100) -> int:
    """Deliver the queued pushes that are due; returns how many were delivered.

    Same database (no [prereg].server_url): each goes into progress_steps with its queue row
    deleted, in one transaction. Otherwise `send(body)` (default: POST to the prereg server)
    raises on failure, and the row waits with backoff."""
    now = now or utcnow()
    remote = bool(config.prereg.server_url)
    send = send or (lambda body: post_push(config, body))
    delivered = 0
    rows = list(db.query("SELECT * FROM progress_queue WHERE next_attempt_at <= ? ORDER BY id LIMIT ?",
                         [iso(now), limit]))
    for row in rows:
        if not remote:
            with write(db):
                accept(db, push_body(db, row))
                db.execute("DELETE FROM progress_queue WHERE id = ?", [row["id"]])
            delivered += 1
            continue
        try:
            send(push_body(db, row))
        except Exception as e:   # the type only: nothing of the application goes to the log
            from core.outbox import backoff_seconds
            wait = backoff_seconds(row["attempts"] + 1, float(config.backend.backoff_initial_seconds),
                                   float(config.backend.backoff_max_seconds))
            with write(db):
                db.execute("UPDATE progress_queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
                           " WHERE id = ?", [iso(now + timedelta(seconds=wait)), type(e).__name__, row["id"]])
            break   # keep the order: the next ones wait for this one
        with write(db):
            db.execute("DELETE FROM progress_queue WHERE id = ?", [row["id"]])
        delivered += 1
    return delivered


def queued(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM progress_queue").fetchone()[0]


class PushFailed(MadoguchiError):
    code = "prereg_unreachable"


def post_push(config, body: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST one push to the prereg server with the office API key; PushFailed unless it took it."""
    import requests

    from core.keys import office_api_key
    url = config.prereg.server_url.rstrip("/") + API_PATH
    try:
        r = requests.post(url, json=body, timeout=timeout,
                          headers={"Authorization": f"Bearer {office_api_key(config)}"})
    except requests.RequestException as e:
        raise PushFailed(f"the prereg server could not be reached ({type(e).__name__})") from None
    if r.status_code not in (200, 201):
        raise PushFailed(f"the prereg server answered {r.status_code}")


def run(config, stop: threading.Event, *, every: float = 1.0) -> None:
    """The office's delivery loop (counter.blueprint runs it as a service under `madoguchi serve`)."""
    from core.store.db import KeptConnection

    kept = KeptConnection(config)
    try:
        while not stop.is_set():
            try:
                kept.run(lambda db: deliver_pending(db, config))
            except Exception as e:   # keep serving; try again on the next round
                log.error("progress delivery failed: %s", type(e).__name__)
            stop.wait(every)
    finally:
        kept.close()
