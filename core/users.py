"""Clerk accounts and their sessions (tables `users` and `clerk_sessions`).

Passwords are hashed with Argon2id (argon2-cffi). Wrong passwords are held back by
`core.signin_throttle` (growing waits per account and address, never a lock-out a stranger can
cause); an unknown name is checked against a dummy hash, so it answers like a real account, in
the same time. A session ends at a fixed time after sign-in, on sign-out, or when its user is
disabled or changes their password. Flask-free: `counter/` keeps only the session token in
its signed cookie, and every request is checked here, so expiry and sign-out hold server-side.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import sys
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.errors import MadoguchiError, NotFound
from core.signin_throttle import Standing, Throttle
from core.store.db import write
from core.store.tenancy import add_tenant_column, key_with_tenant

migrations = Migrations("core.users")

MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
_hasher = PasswordHasher()  # Argon2id, RFC 9106 "low memory" profile
_dummy: tuple[PasswordHasher, str] | None = None

# One Argon2 verification at a time in each process, on a thread of lower CPU priority: each
# takes ~130 ms of both cores, so a flood of guesses would otherwise take the CPU from every other
# page. An attempt that cannot have its turn soon is answered "busy" without hashing; at most
# MAX_WAITING strangers wait for a turn (holding a server thread each), while a clerk at an
# address they signed in from before always may, and longer.
_verifying = threading.BoundedSemaphore(1)
_waiting_lock = threading.Lock()
_waiting = 0
MAX_WAITING = 2
TURN_WAIT_SECONDS = 0.25
KNOWN_ADDRESS_TURN_WAIT_SECONDS = 2.0
VERIFIER_NICENESS = 10
_verifier: ThreadPoolExecutor | None = None


class Role(StrEnum):
    CLERK = "clerk"            # queue, detail, correct, print, confirm, reject, exchange log
    SUPERVISOR = "supervisor"  # + the figures a city reports
    ADMIN = "admin"            # + managing accounts

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role | str) -> bool:
        return self.rank >= Role(other).rank


class UserError(MadoguchiError):
    code = "user_error"


class AuthError(MadoguchiError):
    """Sign-in refused: bad_credentials | throttled (details retry_after, whole seconds) | busy | disabled.

    Only `disabled` says anything about the account, and only to whoever gave its password."""

    code = "bad_credentials"


@migrations()
def m001_users(db: sqlite_utils.Database) -> None:
    db.table("users").create(
        {"username": str, "display_name": str, "role": str, "password_hash": str, "disabled": int,
         "failed_attempts": int, "locked_until": str, "last_sign_in_at": str, "password_changed_at": str,
         "created_at": str, "updated_at": str},
        pk="username", not_null={"role", "password_hash"}, defaults={"disabled": 0, "failed_attempts": 0},
    )
    # Only a hash of the session token is stored: a copy of the database signs no one in.
    db.table("clerk_sessions").create(
        {"token_hash": str, "username": str, "created_at": str, "expires_at": str, "last_seen_at": str,
         "ended_at": str},
        pk="token_hash", foreign_keys=[("username", "users", "username")],
    )
    db.table("clerk_sessions").create_index(["username"])


@migrations()
def m002_no_account_lock_out(db: sqlite_utils.Database) -> None:
    # Failures are counted by core.signin_throttle now, per account and address.
    db.execute("ALTER TABLE users DROP COLUMN failed_attempts")
    db.execute("ALTER TABLE users DROP COLUMN locked_until")


@migrations()
def m003_username_per_tenant(db: sqlite_utils.Database) -> None:
    # Two towns may each have a "sato" (core.store.tenancy): the session's reference follows the key.
    db.table("clerk_sessions").transform(foreign_keys=[])
    key_with_tenant(db, "users", "username")
    add_tenant_column(db, "clerk_sessions")
    db.table("clerk_sessions").transform(foreign_keys=[(("tenant_id", "username"), "users", ("tenant_id", "username"))])


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: Role
    disabled: bool
    last_sign_in_at: datetime | None
    created_at: datetime

    @property
    def actor(self) -> str:
        """How this clerk appears in audit trails and the exchange log."""
        return f"clerk:{self.username}"

    def can(self, role: Role | str) -> bool:
        return self.role.at_least(role)


@dataclass(frozen=True)
class Session:
    user: User
    token_hash: str
    created_at: datetime
    expires_at: datetime


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _user(row: dict) -> User:
    return User(
        username=row["username"], display_name=row["display_name"] or row["username"], role=Role(row["role"]),
        disabled=bool(row["disabled"]), last_sign_in_at=_dt(row["last_sign_in_at"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_username(typed: str | None) -> str:
    """A typed name as names are stored: full-width letters (an IME left on) made plain, lower case."""
    return unicodedata.normalize("NFKC", typed or "").strip().lower()


def check_password_policy(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", code="password_too_short",
                        min_length=MIN_PASSWORD_LENGTH)
    if username and username.lower() in password.lower():
        raise UserError("a password must not contain the user name", code="password_contains_username")
    if len(set(password)) < 4:
        raise UserError("a password needs more different characters", code="password_too_simple")


def get_user(db: sqlite_utils.Database, username: str) -> User:
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username]))
    if not rows:
        raise NotFound("no such user", code="user_not_found")
    return _user(rows[0])


def has_users(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def is_account(db: sqlite_utils.Database, typed_username: str | None) -> bool:
    """Whether the typed name (normalised as at sign-in) names an account."""
    row = db.execute("SELECT 1 FROM users WHERE username = ?", [normalise_username(typed_username)]).fetchone()
    return row is not None


def list_users(db: sqlite_utils.Database) -> list[User]:
    return [_user(r) for r in db.query("SELECT * FROM users ORDER BY username")]


def add_user(db: sqlite_utils.Database, username: str, password: str, role: Role | str = Role.CLERK,
             display_name: str | None = None) -> User:
    username = normalise_username(username)
    if not USERNAME_RE.fullmatch(username):
        raise UserError("a user name is 2–32 lower-case letters, digits, '.', '_' or '-'", code="bad_username")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"unknown role: {role}", code="bad_role") from None
    check_password_policy(password, username)
    now = iso(utcnow())
    with write(db):
        if db.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise UserError("that user name is taken", code="username_taken")
        db.execute(
            "INSERT INTO users (username, display_name, role, password_hash, disabled,"
            " password_changed_at, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
            [username, (display_name or "").strip() or username, str(role), _hasher.hash(password), now, now, now])
    return get_user(db, username)


def set_password(db: sqlite_utils.Database, username: str, password: str) -> None:
    """Change a password; ends the user's sessions."""
    get_user(db, username)
    check_password_policy(password, username)
    now = iso(utcnow())
    with write(db):
        db.execute("UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE username = ?",
                   [_hasher.hash(password), now, now, username])
        end_sessions(db, username)


def set_role(db: sqlite_utils.Database, username: str, role: Role | str) -> None:
    get_user(db, username)
    with write(db):
        db.execute("UPDATE users SET role = ?, updated_at = ? WHERE username = ?",
                   [str(Role(role)), iso(utcnow()), username])


def set_disabled(db: sqlite_utils.Database, username: str, disabled: bool = True) -> None:
    """Disable (ending every session at once) or enable an account. Accounts are never deleted:
    the audit trail names them."""
    get_user(db, username)
    with write(db):
        db.execute("UPDATE users SET disabled = ?, updated_at = ? WHERE username = ?",
                   [int(disabled), iso(utcnow()), username])
        if disabled:
            end_sessions(db, username)


def authenticate(db: sqlite_utils.Database, username: str, password: str, *, throttle: Throttle | None,
                 address: str, now: datetime | None = None) -> User:
    """Check a password typed at `address` (the client's network address). Raises AuthError.

    With a `throttle` (every caller facing a network passes one), an attempt it holds back is
    refused (`throttled`) before anything else, without hashing, for a real name and an
    unknown one alike; a wrong password counts against it. `disabled` is said only after the
    right password, so a stranger learns nothing from it."""
    now = now or utcnow()
    name = normalise_username(username)
    known = False
    if throttle is not None:
        known = _refuse_if_held_back(throttle, name, address, now).known_address
    if not _take_turn(known):
        raise AuthError("too many sign-ins at once", code="busy")
    try:
        if throttle is not None:
            _refuse_if_held_back(throttle, name, address, now)  # a failure may have come in while it waited
        rows = list(db.query("SELECT * FROM users WHERE username = ?", [name])) if name else []
        row = rows[0] if rows else None
        right = _on_verifier(_verify, row["password_hash"] if row else _dummy_hash(), password)
        if row is None or not right:
            if throttle is not None:
                throttle.failed(name, address, now)
            raise AuthError("wrong user name or password")
        new_hash = _on_verifier(_hasher.hash, password) if _hasher.check_needs_rehash(row["password_hash"]) else None
    finally:
        _verifying.release()
    if row["disabled"]:
        raise AuthError("account disabled", code="disabled")
    with write(db):
        db.execute("UPDATE users SET last_sign_in_at = ?, password_hash = coalesce(?, password_hash)"
                   " WHERE username = ?", [iso(now), new_hash, name])
        if throttle is not None:
            throttle.succeeded(name, address, now)
    return get_user(db, name)


def _take_turn(known_address: bool) -> bool:
    global _waiting
    if _verifying.acquire(blocking=False):
        return True
    with _waiting_lock:
        if _waiting >= MAX_WAITING and not known_address:
            return False
        _waiting += 1
    try:
        return _verifying.acquire(timeout=KNOWN_ADDRESS_TURN_WAIT_SECONDS if known_address else TURN_WAIT_SECONDS)
    finally:
        with _waiting_lock:
            _waiting -= 1


def _on_verifier(fn, *args):
    """Run Argon2 work on the verifier thread (Linux: niced; Argon2's lane threads inherit it)."""
    global _verifier
    if _verifier is None:
        with _waiting_lock:
            if _verifier is None:
                _verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2",
                                               initializer=_lower_priority)
    return _verifier.submit(fn, *args).result()


def _lower_priority() -> None:
    # Linux keeps a nice value per thread, so this lowers only the verifier; elsewhere it
    # would lower the whole server, so it is left alone.
    if sys.platform.startswith("linux"):
        os.nice(VERIFIER_NICENESS)


def _refuse_if_held_back(throttle: Throttle, name: str, address: str, now: datetime) -> Standing:
    standing = throttle.standing(name, address, now)
    if standing.wait > timedelta(0):
        raise AuthError("too many failed sign-ins", code="throttled",
                        retry_after=math.ceil(standing.wait.total_seconds()))
    return standing


def _dummy_hash() -> str:
    """A hash made with the current parameters, checked when the name is no account, so that an
    unknown name takes as long as a wrong password."""
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash(secrets.token_urlsafe(16)))
    return _dummy[1]


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def start_session(db: sqlite_utils.Database, user: User, minutes: int, now: datetime | None = None) -> str:
    """A new session; returns the token (kept only in the clerk's signed cookie)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    with write(db):
        db.execute("INSERT INTO clerk_sessions (token_hash, username, created_at, expires_at, last_seen_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   [_token_hash(token), user.username, iso(now), iso(now + timedelta(minutes=minutes)), iso(now)])
        # Old, finished sessions are of no use to anyone.
        db.execute("DELETE FROM clerk_sessions WHERE expires_at < ?", [iso(now - timedelta(days=7))])
    return token


def session_for(db: sqlite_utils.Database, token: str | None, now: datetime | None = None) -> Session | None:
    """The live session for a token, or None when it is unknown, ended, expired, or its user is disabled."""
    if not token:
        return None
    now = now or utcnow()
    rows = list(db.query(
        "SELECT s.token_hash, s.created_at AS s_created, s.expires_at, s.ended_at, u.* FROM clerk_sessions s"
        " JOIN users u ON u.username = s.username WHERE s.token_hash = ?", [_token_hash(token)]))
    if not rows:
        return None
    row = rows[0]
    if row["ended_at"] or row["disabled"] or datetime.fromisoformat(row["expires_at"]) <= now:
        return None
    return Session(user=_user(row), token_hash=row["token_hash"], created_at=datetime.fromisoformat(row["s_created"]),
                   expires_at=datetime.fromisoformat(row["expires_at"]))


def end_session(db: sqlite_utils.Database, token: str | None) -> None:
    if token:
        with write(db):
            db.execute("UPDATE clerk_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
                       [iso(utcnow()), _token_hash(token)])


def end_sessions(db: sqlite_utils.Database, username: str) -> None:
    with write(db):
        db.execute("UPDATE clerk_sessions SET ended_at = ? WHERE username = ? AND ended_at IS NULL",
                   [iso(utcnow()), username])
