"""Holding back password guessing at sign-in without letting a stranger lock a clerk out
(table `signin_throttles`).

The old rule, five failures lock the account for 15 minutes, let anyone keep an admin out for
good with five requests a quarter hour. Instead every password that was checked and found wrong
counts against three keys, each with a few free failures and then waits that double with each
further failure (1 s, 2 s, 4 s, … up to a cap):

- **the pair (account, address)** — the name as typed and the client's address: after
  `free_attempts` failures, waits up to `longest_wait`. This is what stops a guesser, and it
  stops only the guesser: the real clerk on another PC is another pair, with its own count.
- **the address**, whatever names it tries: 4 × `free_attempts`, then the same waits. This stops
  one machine trying a likely password against many names.
- **the account, from anywhere**: 4 × `free_attempts`, then waits of at most one minute, and
  none at all for an address that has signed in to the account in the last 90 days. This slows
  a guesser spread over many machines (each a fresh pair and a fresh address). A stranger on one
  machine, already held back by their pair, can make the clerk wait a minute at most, and never
  at the PC the clerk signed in from before; a botnet can keep a clerk waiting only on a PC
  they never used.

An attempt made while any of its keys is waiting is refused without checking the password (and
counts nothing), so a refusal costs no Argon2 time. A name that is no account counts exactly like
one that is, so the answers never tell a stranger whether an account exists. A success clears its
pair and its address, and remembers the address for the account; it does not clear the
account-wide count, which a guesser elsewhere may still be raising. An admin's unlock
(`clear`) does. A key without a failure for a day starts again from nothing.

Kept in the database, so every server process sees the same counts and a restart forgets
nothing. Names and addresses are stored only as keyed hashes (key `signin_throttle.key`): people
type their password into the name field, and a copy of the database must not show it.
Names come in normalised (`core.users.normalise_username`). Flask-free.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.application import iso, utcnow
from core.store.db import write
from core.store.tenancy import key_with_tenant

migrations = Migrations("core.signin_throttle")

FIRST_WAIT = timedelta(seconds=1)
FORGET_AFTER = timedelta(days=1)
KNOWN_FOR = timedelta(days=90)
ADDRESS_FREE_FACTOR = 4
ACCOUNT_FREE_FACTOR = 4
ACCOUNT_LONGEST_WAIT = timedelta(minutes=1)


@migrations()
def m001_signin_throttles(db: sqlite_utils.Database) -> None:
    # account: the keyed hash of the name, on the pair and account rows (for clear and held_back_until).
    db.table("signin_throttles").create(
        {"key": str, "account": str, "failures": int, "last_failure_at": str, "wait_until": str,
         "signed_in_at": str},
        pk="key", not_null={"failures"}, defaults={"failures": 0},
    )
    db.table("signin_throttles").create_index(["account"])
    db.table("signin_throttles").create_index(["last_failure_at"])


@migrations()
def m002_key_per_tenant(db: sqlite_utils.Database) -> None:
    key_with_tenant(db, "signin_throttles", "key")   # core.store.tenancy


@dataclass(frozen=True)
class Limit:
    free: int
    longest: timedelta

    def wait_after(self, failures: int) -> timedelta:
        if failures < self.free:
            return timedelta(0)
        return min(self.longest, FIRST_WAIT * 2 ** min(failures - self.free, 30))


@dataclass(frozen=True)
class Standing:
    """Where an attempt stands before its password is checked."""
    wait: timedelta          # > 0: refuse it, and say how long to wait
    known_address: bool      # the account signed in from this address recently


class Throttle:
    def __init__(self, db: sqlite_utils.Database, key: str, free_attempts: int = 5,
                 longest_wait: timedelta = timedelta(minutes=15)):
        self.db = db
        self._key = key.encode()
        self.pair_limit = Limit(free_attempts, longest_wait)
        self.address_limit = Limit(free_attempts * ADDRESS_FREE_FACTOR, longest_wait)
        self.account_limit = Limit(free_attempts * ACCOUNT_FREE_FACTOR, min(longest_wait, ACCOUNT_LONGEST_WAIT))

    @classmethod
    def for_config(cls, db: sqlite_utils.Database, config) -> Throttle:
        from core.keys import signin_throttle_key
        return cls(db, signin_throttle_key(config), config.counter.signin_free_attempts,
                   timedelta(minutes=config.counter.signin_longest_wait_minutes))

    def _ref(self, kind: str, *parts: str) -> str:
        text = "\0".join((kind, *parts)).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()[:32]

    def _keys(self, name: str, address: str) -> list[tuple[str, str | None, Limit]]:
        """(key, account, limit) for the pair, the address and the account, in that order."""
        account = self._ref("account", name)
        return [("pair:" + self._ref("pair", name, address), account, self.pair_limit),
                ("address:" + self._ref("address", address), None, self.address_limit),
                ("account:" + account, account, self.account_limit)]

    def _rows(self, keys: list[str]) -> dict[str, dict]:
        marks = ", ".join("?" * len(keys))
        return {r["key"]: r for r in self.db.query(f"SELECT * FROM signin_throttles WHERE key IN ({marks})", keys)}

    def standing(self, name: str, address: str, now: datetime | None = None) -> Standing:
        now = now or utcnow()
        (pair, _, _), (addr, _, _), (account, _, _) = keys = self._keys(name, address)
        rows = self._rows([k for k, _, _ in keys])
        signed_in_at = (rows.get(pair) or {}).get("signed_in_at")
        known = bool(signed_in_at and datetime.fromisoformat(signed_in_at) > now - KNOWN_FOR)
        waits = [timedelta(0)]
        for key in (pair, addr) if known else (pair, addr, account):
            until = (rows.get(key) or {}).get("wait_until")
            if until:
                waits.append(datetime.fromisoformat(until) - now)
        return Standing(wait=max(waits), known_address=known)

    def failed(self, name: str, address: str, now: datetime | None = None) -> None:
        """A password was checked and was wrong (or the name is no account)."""
        now = now or utcnow()
        keys = self._keys(name, address)
        with write(self.db):
            rows = self._rows([k for k, _, _ in keys])
            for key, account, limit in keys:
                row = rows.get(key) or {}
                last = row.get("last_failure_at")
                fresh = last and datetime.fromisoformat(last) > now - FORGET_AFTER
                failures = (row["failures"] if fresh else 0) + 1
                wait = limit.wait_after(failures)
                self.db.execute(
                    "INSERT INTO signin_throttles (key, account, failures, last_failure_at, wait_until)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, key) DO UPDATE SET failures = excluded.failures,"
                    " last_failure_at = excluded.last_failure_at, wait_until = excluded.wait_until",
                    [key, account, failures, iso(now), iso(now + wait) if wait else None])
            # Counts nobody has added to for a day are forgotten; an address known for the
            # account is kept (see KNOWN_FOR).
            self.db.execute("DELETE FROM signin_throttles WHERE last_failure_at < ?"
                            " AND (signed_in_at IS NULL OR signed_in_at < ?)",
                            [iso(now - FORGET_AFTER), iso(now - KNOWN_FOR)])

    def succeeded(self, name: str, address: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        (pair, account, _), (addr, _, _), _ = self._keys(name, address)
        with write(self.db):
            self.db.execute(
                "INSERT INTO signin_throttles (key, account, failures, signed_in_at) VALUES (?, ?, 0, ?)"
                " ON CONFLICT (tenant_id, key) DO UPDATE SET failures = 0, last_failure_at = NULL, wait_until = NULL,"
                " signed_in_at = excluded.signed_in_at", [pair, account, iso(now)])
            self.db.execute("DELETE FROM signin_throttles WHERE key = ?", [addr])
            self.db.execute("DELETE FROM signin_throttles WHERE last_failure_at IS NULL AND signed_in_at < ?",
                            [iso(now - KNOWN_FOR)])

    def clear(self, name: str) -> None:
        """An admin's unlock: every count for the account goes (its known addresses stay)."""
        account = self._ref("account", name)
        with write(self.db):
            self.db.execute("DELETE FROM signin_throttles WHERE account = ? AND signed_in_at IS NULL", [account])
            self.db.execute("UPDATE signin_throttles SET failures = 0, last_failure_at = NULL, wait_until = NULL"
                            " WHERE account = ?", [account])

    def held_back_until(self, name: str, now: datetime | None = None) -> datetime | None:
        """The latest time some attempt on this account (from some address) must wait for, if any."""
        now = now or utcnow()
        until = self.db.execute("SELECT max(wait_until) FROM signin_throttles WHERE account = ? AND wait_until > ?",
                                [self._ref("account", name), iso(now)]).fetchone()[0]
        return datetime.fromisoformat(until) if until else None
