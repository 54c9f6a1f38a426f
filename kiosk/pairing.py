"""Which browser is the kiosk's own: a one-time pairing code, then a device cookie.

Any browser on the network can reach /kiosk/, so the card reader, camera and printer must not
follow whoever asked last. An admin makes a pairing code on the machine
(`madoguchi kiosk pair`, single use, valid for minutes) and opens its URL in the kiosk's own
browser; pairing gives that browser a random device secret in a long-lived HttpOnly,
SameSite=Strict cookie. The database keeps only the secret's hash, one row per kiosk, so a new
pairing replaces the old browser. This works the same in the all-in-one and the kiosk-PC setups
(a loopback-only rule would not: in the all-in-one setup the kiosk's browser is remote).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.store.db import write
from core.store.tenancy import key_with_tenant

migrations = Migrations("kiosk.pairing")

COOKIE = "madoguchi_kiosk_device"
CODE_MINUTES = 10
COOKIE_DAYS = 3650   # until the kiosk is paired again
PAIR_PATH = "/kiosk/pair"


@migrations()
def m001_kiosk_devices(db: sqlite_utils.Database) -> None:
    db["kiosk_pairing_codes"].create({"code_sha256": str, "kiosk_id": str, "expires_at": str},
                                     pk="code_sha256")
    db["kiosk_devices"].create({"kiosk_id": str, "secret_sha256": str, "paired_at": str}, pk="kiosk_id")


@migrations()
def m002_kiosk_id_per_tenant(db: sqlite_utils.Database) -> None:
    key_with_tenant(db, "kiosk_devices", "kiosk_id")   # every town has its kiosk-1 (core.store.tenancy)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_code(db: sqlite_utils.Database, kiosk_id: str, minutes: int = CODE_MINUTES) -> str:
    """A one-time pairing code for `kiosk_id`; only its hash is stored."""
    code = secrets.token_urlsafe(18)
    with write(db):
        db.execute("DELETE FROM kiosk_pairing_codes WHERE expires_at < ?", [iso(utcnow())])
        db.execute("INSERT INTO kiosk_pairing_codes (code_sha256, kiosk_id, expires_at) VALUES (?, ?, ?)",
                   [_hash(code), kiosk_id, iso(utcnow() + timedelta(minutes=minutes))])
    return code


def pairing_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}{PAIR_PATH}?code={code}"


def code_is_valid(db: sqlite_utils.Database, kiosk_id: str, code: str) -> bool:
    row = db.execute("SELECT kiosk_id, expires_at FROM kiosk_pairing_codes WHERE code_sha256 = ?",
                     [_hash(code or "")]).fetchone()
    return row is not None and row[0] == kiosk_id and row[1] >= iso(utcnow())


def pair(db: sqlite_utils.Database, kiosk_id: str, code: str) -> str | None:
    """Use up a pairing code: the new device secret of `kiosk_id`, or None for a bad code.

    The secret replaces the kiosk's previous one, so the browser paired before stops being the kiosk."""
    with write(db):
        if not code_is_valid(db, kiosk_id, code):
            return None
        db.execute("DELETE FROM kiosk_pairing_codes WHERE code_sha256 = ?", [_hash(code)])
        secret = secrets.token_urlsafe(32)
        db.execute("INSERT INTO kiosk_devices (kiosk_id, secret_sha256, paired_at) VALUES (?, ?, ?)"
                   " ON CONFLICT (tenant_id, kiosk_id) DO UPDATE SET secret_sha256 = excluded.secret_sha256,"
                   " paired_at = excluded.paired_at", [kiosk_id, _hash(secret), iso(utcnow())])
    return secret


def has_browser(db: sqlite_utils.Database, kiosk_id: str) -> bool:
    return db.execute("SELECT 1 FROM kiosk_devices WHERE kiosk_id = ?", [kiosk_id]).fetchone() is not None


def is_paired(db: sqlite_utils.Database, kiosk_id: str, secret: str | None) -> bool:
    """Whether `secret` (the device cookie) is the one of the browser paired with `kiosk_id`."""
    if not secret:
        return False
    row = db.execute("SELECT secret_sha256 FROM kiosk_devices WHERE kiosk_id = ?", [kiosk_id]).fetchone()
    return row is not None and hmac.compare_digest(row[0], _hash(secret))
