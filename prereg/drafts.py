"""Answers in progress, kept server-side but unreadable without the resident's browser.

The wizard's answers do not fit a cookie (a household of several people) and must not lie
readable in the database. Each draft is stored AES-GCM encrypted under a random key that
lives only in the resident's session cookie; the server keeps the ciphertext, keyed by a
random draft id, until the application is submitted (then it is deleted) or it has been
left alone for DRAFT_HOURS (then the purge removes it).

Table `prereg_drafts`: id, sealed (nonce + ciphertext + tag), expires_at.
"""
from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.store.db import write

migrations = Migrations("prereg.drafts")

DRAFT_HOURS = 24
MAX_DRAFT_BYTES = 128 * 1024
PAD_TO = 512
_AAD = b"madoguchi-prereg-draft:"


@migrations()
def m001_prereg_drafts(db: sqlite_utils.Database) -> None:
    db["prereg_drafts"].create({"id": str, "sealed": bytes, "expires_at": str}, pk="id")
    db["prereg_drafts"].create_index(["expires_at"])


class DraftTooLarge(ValueError):
    pass


def new_handle() -> dict[str, str]:
    """A fresh draft id and key, as kept in the session cookie."""
    return {"id": secrets.token_urlsafe(16),
            "key": base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=128)).decode("ascii")}


def _key(handle: dict[str, str]) -> bytes:
    return base64.urlsafe_b64decode(handle["key"])


def load(db: sqlite_utils.Database, handle: dict[str, str] | None, *,
         now: datetime | None = None) -> dict[str, Any] | None:
    """The draft, or None when there is none, it expired, or the handle does not open it."""
    if not handle or not isinstance(handle, dict) or "id" not in handle or "key" not in handle:
        return None
    row = db.execute("SELECT sealed, expires_at FROM prereg_drafts WHERE id = ?", [handle["id"]]).fetchone()
    if row is None or datetime.fromisoformat(row[1]) <= (now or utcnow()):
        return None
    sealed = bytes(row[0])
    try:
        plain = AESGCM(_key(handle)).decrypt(sealed[:12], sealed[12:], _AAD + handle["id"].encode())
    except (InvalidTag, ValueError):
        return None
    return json.loads(plain.decode("utf-8"))


def save(db: sqlite_utils.Database, handle: dict[str, str], data: dict[str, Any], *,
         now: datetime | None = None) -> None:
    plain = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(plain) > MAX_DRAFT_BYTES:
        raise DraftTooLarge("the draft is too large")
    plain += b" " * (-len(plain) % PAD_TO)
    nonce = secrets.token_bytes(12)
    sealed = nonce + AESGCM(_key(handle)).encrypt(nonce, plain, _AAD + handle["id"].encode())
    expires = iso((now or utcnow()) + timedelta(hours=DRAFT_HOURS))
    with write(db):
        db.execute("INSERT INTO prereg_drafts (id, sealed, expires_at) VALUES (?, ?, ?) "
                   "ON CONFLICT(id) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at",
                   [handle["id"], sealed, expires])


def delete(db: sqlite_utils.Database, handle: dict[str, str] | None) -> None:
    if handle and isinstance(handle, dict) and "id" in handle:
        with write(db):
            db.execute("DELETE FROM prereg_drafts WHERE id = ?", [handle["id"]])


def purge(db: sqlite_utils.Database, *, now: datetime | None = None) -> int:
    with write(db):
        cur = db.execute("DELETE FROM prereg_drafts WHERE expires_at <= ?", [iso(now or utcnow())])
    return cur.rowcount
