"""Clerk accounts and their sessions (tables `users` and `clerk_sessions`).

Passwords are hashed with Argon2id (argon2-cffi). Failed sign-ins in a row lock an account
for a while; a session ends at a fixed time after sign-in, on sign-out, or when its user is
disabled or changes their password. Flask-free: `counter/` keeps only the session token in
its signed cookie, and every request is checked here, so expiry and sign-out hold server-side.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.errors import MadoguchiError, NotFound
from core.store.db import write

migrations = Migrations("core.users")

MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
_hasher = PasswordHasher()  # Argon2id, RFC 9106 "low memory" profile
# Verified against when the user does not exist, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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
    """Sign-in refused: bad_credentials | locked (.locked_until) | disabled."""

    code = "bad_credentials"


@migrations()
def m001_users(db: sqlite_utils.Database) -> None:
    db["users"].create(
        {"username": str, "display_name": str, "role": str, "password_hash": str, "disabled": int,
         "failed_attempts": int, "locked_until": str, "last_sign_in_at": str, "password_changed_at": str,
         "created_at": str, "updated_at": str},
        pk="username", not_null={"role", "password_hash"}, defaults={"disabled": 0, "failed_attempts": 0},
    )
    # Only a hash of the session token is stored: a copy of the database signs no one in.
    db["clerk_sessions"].create(
        {"token_hash": str, "username": str, "created_at": str, "expires_at": str, "last_seen_at": str,
         "ended_at": str},
        pk="token_hash", foreign_keys=[("username", "users", "username")],
    )
    db["clerk_sessions"].create_index(["username"])


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: Role
    disabled: bool
    failed_attempts: int
    locked_until: datetime | None
    last_sign_in_at: datetime | None
    created_at: datetime

    @property
    def actor(self) -> str:
        """How this clerk appears in audit trails and the exchange log."""
        return f"clerk:{self.username}"

    def can(self, role: Role | str) -> bool:
        return self.role.at_least(role)

    def locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())


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
        disabled=bool(row["disabled"]), failed_attempts=row["failed_attempts"] or 0,
        locked_until=_dt(row["locked_until"]), last_sign_in_at=_dt(row["last_sign_in_at"]),
        created_at=_dt(row["created_at"]),
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def list_users(db: sqlite_utils.Database) -> list[User]:
    return [_user(r) for r in db.query("SELECT * FROM users ORDER BY username")]


def add_user(db: sqlite_utils.Database, username: str, password: str, role: Role | str = Role.CLERK,
             display_name: str | None = None) -> User:
    username = (username or "").strip().lower()
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
            "INSERT INTO users (username, display_name, role, password_hash, disabled, failed_attempts,"
            " password_changed_at, created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?)",
            [username, (display_name or "").strip() or username, str(role), _hasher.hash(password), now, now, now])
    return get_user(db, username)


def set_password(db: sqlite_utils.Database, username: str, password: str) -> None:
    """Change a password; ends the user's sessions and clears a lock-out."""
    get_user(db, username)
    check_password_policy(password, username)
    now = iso(utcnow())
    with write(db):
        db.execute("UPDATE users SET password_hash = ?, password_changed_at = ?, failed_attempts = 0,"
                   " locked_until = NULL, updated_at = ? WHERE username = ?",
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


def unlock(db: sqlite_utils.Database, username: str) -> None:
    get_user(db, username)
    with write(db):
        db.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL, updated_at = ? WHERE username = ?",
                   [iso(utcnow()), username])


def authenticate(db: sqlite_utils.Database, username: str, password: str, *, lockout_attempts: int = 5,
                 lockout_minutes: int = 15, now: datetime | None = None) -> User:
    """Check a password. Raises AuthError: `locked` (with locked_until; checked before the
    password, so a locked account cannot be guessed at), `disabled`, or `bad_credentials`."""
    now = now or utcnow()
    username = (username or "").strip().lower()
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username])) if username else []
    if not rows:
        _verify(_DUMMY_HASH, password)
        raise AuthError("wrong user name or password")
    row = rows[0]
    user = _user(row)
    if user.locked(now):
        raise AuthError("account locked", code="locked", locked_until=user.locked_until)
    if not _verify(row["password_hash"], password):
        with write(db):
            # A lock that has run out starts a fresh count.
            fails = (0 if user.locked_until else user.failed_attempts) + 1
            locked_until = iso(now + timedelta(minutes=lockout_minutes)) if fails >= lockout_attempts else None
            db.execute("UPDATE users SET failed_attempts = ?, locked_until = ?, updated_at = ? WHERE username = ?",
                       [0 if locked_until else fails, locked_until, iso(now), username])
        if locked_until:
            raise AuthError("account locked", code="locked", locked_until=datetime.fromisoformat(locked_until))
        raise AuthError("wrong user name or password", attempts_left=lockout_attempts - fails)
    if user.disabled:
        raise AuthError("account disabled", code="disabled")
    with write(db):
        new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(row["password_hash"]) else row["password_hash"]
        db.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = ?, password_hash = ?"
                   " WHERE username = ?", [iso(now), new_hash, username])
    return get_user(db, username)


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
    return Session(user=_user(row), token_hash=row["token_hash"], created_at=_dt(row["s_created"]),
                   expires_at=_dt(row["expires_at"]))


def end_session(db: sqlite_utils.Database, token: str | None) -> None:
    if token:
        with write(db):
            db.execute("UPDATE clerk_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
                       [iso(utcnow()), _token_hash(token)])


def end_sessions(db: sqlite_utils.Database, username: str) -> None:
    with write(db):
        db.execute("UPDATE clerk_sessions SET ended_at = ? WHERE username = ? AND ended_at IS NULL",
                   [iso(utcnow()), username])
