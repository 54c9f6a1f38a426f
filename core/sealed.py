"""Sealed pre-registrations: applications stored encrypted under a key only the resident holds.

On submit, the application (its JSON form) is encrypted with AES-GCM under a fresh random
128-bit key, with the application id as associated data, and only the ciphertext and an
expiry are stored. The key goes into the token on the resident's QR code (core.tokens) and
is then forgotten, so the database, its backups and the server's operators cannot read it.

The office side (kiosk, counter) opens an application with the scanned token:
`open_prereg_envelope(config, token_text, db)` reads the same database in the all-in-one
setup, or fetches the ciphertext from the prereg server's PULL API when `[prereg].server_url`
is set (the internet-side server and the office network are apart in real cities). It is pure
crypto and fetching: the office's one way to open one, logging the fetch about the person, is
core.services.prereg.open_preregistration.

Table `sealed_applications`: id (the application id), format (envelope version),
sealed (nonce + ciphertext + tag), expires_at. Nothing else, not even the procedures.
"""
from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlite_utils.migrations import Migrations

from core.application import is_application_id, iso, new_application_id, utcnow
from core.errors import MadoguchiError
from core.store.db import write
from core.tokens import KEY_BYTES, PREFIX, TokenError, decode_token, encode_token

migrations = Migrations("core.sealed")

FORMAT = 1
NONCE_BYTES = 12
# Plaintexts are padded to a multiple of this, so the stored size says little about the
# content (how many family members, how long a name).
PAD_TO = 512
MAX_SEALED_BYTES = 64 * 1024
API_PATH = "/prereg/api/v1/sealed/"


@migrations()
def m001_sealed_applications(db: sqlite_utils.Database) -> None:
    db.table("sealed_applications").create(
        {"id": str, "format": int, "sealed": bytes, "expires_at": str}, pk="id",
    )
    db.table("sealed_applications").create_index(["expires_at"])


class PreregUnavailable(MadoguchiError):
    """The prereg server could not be asked (server_url set): codes prereg_unreachable,
    prereg_unauthorized (the office API key was refused), prereg_bad_answer."""

    code = "prereg_unreachable"


@dataclass(frozen=True)
class Sealed:
    """What the resident gets back: the token is the only copy of the key."""

    app_id: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class SealedRecord:
    app_id: str
    format: int
    sealed: bytes
    expires_at: datetime


@dataclass(frozen=True)
class Envelope:
    """The decrypted content: the JSON form, plus when and in which language it was written."""

    form: dict[str, Any]
    submitted_at: str | None = None
    lang: str | None = None
    guide: dict[str, Any] | None = None   # 手続きナビ: {"life_event": id, "answers": {question: bool}}


def _aad(app_id: str) -> bytes:
    # Binds the ciphertext to its id: a row copied under another id does not decrypt.
    return f"{PREFIX}{app_id}".encode("ascii")


def seal(app_id: str, json_form: dict[str, Any], *, lang: str | None = None,
         submitted_at: datetime | None = None, key: bytes | None = None,
         guide: dict[str, Any] | None = None) -> tuple[bytes, bytes]:
    """Encrypt a JSON form for `app_id`. Returns (key, sealed bytes = nonce + ciphertext + tag)."""
    key = key or AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    envelope = {"v": FORMAT, "form": json_form, "submitted_at": iso(submitted_at or utcnow()), "lang": lang}
    if guide:
        envelope["guide"] = guide
    plain = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    plain += b" " * (-len(plain) % PAD_TO)  # JSON ignores trailing spaces
    nonce = secrets.token_bytes(NONCE_BYTES)
    return key, nonce + AESGCM(key).encrypt(nonce, plain, _aad(app_id))


def unseal(app_id: str, key: bytes, sealed: bytes) -> Envelope:
    """Decrypt; a key that does not fit (or a changed ciphertext) raises TokenError wrong_key."""
    if len(sealed) < NONCE_BYTES + 16:
        raise TokenError("the stored application is damaged", code="wrong_key")
    try:
        plain = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(app_id))
    except InvalidTag:
        raise TokenError("the key in the token does not open this application", code="wrong_key") from None
    envelope = json.loads(plain.decode("utf-8"))
    return Envelope(form=envelope["form"], submitted_at=envelope.get("submitted_at"), lang=envelope.get("lang"),
                    guide=envelope.get("guide"))


def store(db: sqlite_utils.Database, json_form: dict[str, Any], *, days: int, lang: str | None = None,
          now: datetime | None = None, guide: dict[str, Any] | None = None) -> Sealed:
    """Seal a (validated) JSON form under a new id and a fresh key; store only the ciphertext.

    The key is returned inside the token and not kept anywhere else.
    """
    now = now or utcnow()
    expires_at = now + timedelta(days=days)
    for _ in range(3):  # 80-bit ids do not collide in practice; retry rather than assume
        app_id = new_application_id()
        key, sealed = seal(app_id, json_form, lang=lang, submitted_at=now, guide=guide)
        with write(db):
            cur = db.execute(
                "INSERT INTO sealed_applications (id, format, sealed, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                [app_id, FORMAT, sealed, iso(expires_at)])
        if cur.rowcount == 1:
            return Sealed(app_id, encode_token(app_id, key), expires_at)
    raise MadoguchiError("could not allocate an application id", code="id_collision")


def submit(config, db: sqlite_utils.Database, json_form: dict[str, Any], *, lang: str | None = None,
           now: datetime | None = None, guide: dict[str, Any] | None = None) -> Sealed:
    """`store` with the retention period from config ([retention].prereg_days)."""
    return store(db, json_form, days=config.retention.prereg_days, lang=lang, now=now, guide=guide)


def fetch(db: sqlite_utils.Database, app_id: str, *, now: datetime | None = None) -> SealedRecord:
    """The stored ciphertext; TokenError unknown_id (never stored, withdrawn or purged) or expired."""
    if not is_application_id(app_id):
        raise TokenError("no such pre-registration", code="unknown_id")
    row = db.execute("SELECT id, format, sealed, expires_at FROM sealed_applications WHERE id = ?",
                     [app_id]).fetchone()
    if row is None:
        raise TokenError("no such pre-registration", code="unknown_id")
    record = SealedRecord(row[0], row[1], bytes(row[2]), datetime.fromisoformat(row[3]))
    if record.expires_at <= (now or utcnow()):
        raise TokenError("the pre-registration has expired", code="expired")
    return record


def verify_token(db: sqlite_utils.Database, token_text: str, *, now: datetime | None = None) -> tuple[str, Envelope]:
    """Decode a token and open its application from this database."""
    app_id, key = decode_token(token_text)
    record = fetch(db, app_id, now=now)
    return app_id, unseal(app_id, key, record.sealed)


def withdraw(db: sqlite_utils.Database, token_text: str) -> str:
    """Delete an application; only the holder of the token can (the key must open it).

    Works on an expired one too, so a resident can always remove their data.
    """
    app_id, key = decode_token(token_text)
    with write(db):
        row = db.execute("SELECT sealed FROM sealed_applications WHERE id = ?", [app_id]).fetchone()
        if row is None:
            raise TokenError("no such pre-registration", code="unknown_id")
        unseal(app_id, key, bytes(row[0]))
        db.execute("DELETE FROM sealed_applications WHERE id = ?", [app_id])
    return app_id


def purge(db: sqlite_utils.Database, *, now: datetime | None = None) -> int:
    """Delete every expired ciphertext; returns how many."""
    with write(db):
        cur = db.execute("DELETE FROM sealed_applications WHERE expires_at <= ?", [iso(now or utcnow())])
    return cur.rowcount


def count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM sealed_applications").fetchone()[0]


# --- the PULL API, as the office side calls it ----------------------------------------

def record_to_json(record: SealedRecord) -> dict[str, Any]:
    """The PULL API's answer (see prereg/openapi.json)."""
    return {"id": record.app_id, "format": record.format,
            "sealed": base64.b64encode(record.sealed).decode("ascii"), "expires_at": iso(record.expires_at)}


def fetch_remote(config, app_id: str, *, timeout: float = 10.0) -> SealedRecord:
    """Fetch a ciphertext from the prereg server's PULL API, with the office API key."""
    import requests

    from core.keys import office_api_key

    if not is_application_id(app_id):
        raise TokenError("no such pre-registration", code="unknown_id")
    url = config.prereg.server_url.rstrip("/") + API_PATH + app_id
    try:
        r = requests.get(url, headers={"Authorization": f"Bearer {office_api_key(config)}",
                                       "Accept": "application/json"}, timeout=timeout)
    except requests.RequestException as e:
        raise PreregUnavailable(f"the prereg server could not be reached ({type(e).__name__})") from None
    if r.status_code == 404:
        raise TokenError("no such pre-registration", code="unknown_id")
    if r.status_code == 410:
        raise TokenError("the pre-registration has expired", code="expired")
    if r.status_code in (401, 403):
        raise PreregUnavailable("the prereg server refused the office API key", code="prereg_unauthorized")
    if r.status_code != 200:
        raise PreregUnavailable(f"the prereg server answered {r.status_code}", code="prereg_unreachable")
    try:
        body = r.json()
        sealed = base64.b64decode(body["sealed"], validate=True)
        record = SealedRecord(body["id"], int(body["format"]), sealed, datetime.fromisoformat(body["expires_at"]))
    except (ValueError, KeyError, TypeError):
        raise PreregUnavailable("the prereg server's answer was not understood", code="prereg_bad_answer") from None
    if record.app_id != app_id or len(sealed) > MAX_SEALED_BYTES:
        raise PreregUnavailable("the prereg server's answer was not understood", code="prereg_bad_answer")
    if record.expires_at <= utcnow():
        raise TokenError("the pre-registration has expired", code="expired")
    return record


def open_prereg_envelope(config, token_text: str,
                         db: sqlite_utils.Database | None = None) -> tuple[str, Envelope]:
    """(application id, decrypted envelope) for a scanned token; logs nothing.

    Reads `db` (or the configured database) in the all-in-one setup, or the prereg server's
    PULL API when `[prereg].server_url` is set. Raises TokenError: malformed, bad_version,
    bad_checksum, unknown_id, wrong_key, expired; PreregUnavailable when the server cannot be
    asked. Opening one at the office, with its prereg_fetch log entry, is
    core.services.prereg.open_preregistration.
    """
    from core.store.db import open_from_config

    app_id, key = decode_token(token_text)
    own_db = db is None and not config.prereg.server_url
    if own_db:
        db = open_from_config(config)
    try:
        if config.prereg.server_url:
            record = fetch_remote(config, app_id)
        else:
            assert db is not None  # own_db: opened above when there is no prereg server URL
            record = fetch(db, app_id)
        return app_id, unseal(app_id, key, record.sealed)
    finally:
        if own_db and db is not None:
            db.conn.close()
