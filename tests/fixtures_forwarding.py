"""Fixtures and helpers for the forwarding tests: a real `madoguchi backend-sim` process,
a `madoguchi forward` process, and confirmed applications waiting in the outbox."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from core.application import Application, Source, State
from core.outbox import confirm
from core.store.applications import ApplicationStore
from tests.helpers import free_port, write_config

MADOGUCHI = str(Path(sys.executable).parent / "madoguchi")

# Short waits so a backend that is down costs the suite a second, not minutes.
FAST_BACKOFF = {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.4, "timeout_seconds": 3.0}


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class BackendSim:
    """`madoguchi backend-sim` as a real process on a fixed port (so it can be restarted)."""

    def __init__(self, tmp_path: Path, port: int | None = None, *args: str):
        self.port = port or free_port()
        self.store = tmp_path / f"backend-sim-{self.port}.db"
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.scheme = "https" if "--tls-cert" in self.args else "http"
        # Trust the simulator's own certificate when asking it things.
        self.verify = self.args[self.args.index("--tls-cert") + 1] if self.scheme == "https" else True
        self.log_path = tmp_path / f"backend-sim-{self.port}.log"

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/records"

    def start(self) -> BackendSim:
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [MADOGUCHI, "backend-sim", "--port", str(self.port), "--store", str(self.store), *self.args],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.store.parent)
        verify = self.verify

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"backend-sim exited: {self.log_path.read_text()}")
            try:
                return requests.get(self.base + "/healthz", timeout=1, verify=verify).ok
            except requests.RequestException:
                return False
        wait_for(up, 20, 0.05, "backend-sim to listen")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    # What the backend stored, read straight from its file (works while it is down, too).
    def _query(self, sql: str, params=()):
        conn = sqlite3.connect(self.store)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def stored_keys(self) -> list[str]:
        return [r[0] for r in self._query("SELECT idempotency_key FROM records")]

    def receipts(self, outcome: str | None = None) -> list[tuple]:
        sql = "SELECT idempotency_key, sha256, outcome FROM receipts"
        return self._query(sql + " WHERE outcome = ?", (outcome,)) if outcome else self._query(sql)

    def records(self) -> list[dict]:
        return requests.get(self.url, timeout=5, verify=self.verify).json()["records"]


@pytest.fixture
def backend_sim(tmp_path):
    """Factory: backend_sim(*args, port=None, start=True) → BackendSim; all stopped afterwards."""
    sims: list[BackendSim] = []

    def make(*args, port=None, start=True):
        sim = BackendSim(tmp_path, port, *args)
        sims.append(sim)
        return sim.start() if start else sim
    yield make
    for sim in sims:
        sim.stop()


def push_config_file(tmp_path: Path, values: dict, url: str, **backend) -> Path:
    """`values` (the `overrides` fixture's, on the test's engine) pushing to `url`, as a file."""
    values["backend"] = {**values["backend"], "mode": "push", "url": url, **FAST_BACKOFF, **backend}
    return write_config(tmp_path / "push.toml", values)


def push_config(config, url: str, **backend):
    return config.replace({"backend": {"mode": "push", "url": url, **FAST_BACKOFF, **backend}})


class ForwardProcess:
    """`madoguchi forward` (looping) as a real process."""

    def __init__(self, config_file: Path, *args: str):
        self.log_path = config_file.parent / f"forward-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")
        env = dict(os.environ, MADOGUCHI_CONFIG=str(config_file), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([MADOGUCHI, "forward", "--interval", "0.1", *args], env=env,
                                     cwd=config_file.parent, stdout=self.log, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()


@pytest.fixture
def forward_process():
    procs: list[ForwardProcess] = []

    def start(config_file: Path, *args: str) -> ForwardProcess:
        p = ForwardProcess(config_file, *args)
        procs.append(p)
        return p
    yield start
    for p in procs:
        p.stop()


PEOPLE = [("山田\u3000太郎", "1985-04-01"), ("髙橋\u3000𠮷子", "1952-01-15"), ("Nguyễn\u3000Văn An", "1999-12-31")]


def confirmed_applications(db, n: int, procedures=("juminhyo",)) -> list[Application]:
    """n applications, printed and confirmed by a clerk, so each has a pending outbox row."""
    store = ApplicationStore(db)
    apps = []
    for i in range(n):
        name, birth = PEOPLE[i % len(PEOPLE)]
        data = {"name": name, "kana": "ヤマダ\u3000タロウ", "birth_date": birth, "sex": "male",
                "postal_code": "1000001", "address": f"東京都千代田区千代田{i + 1}", "juminhyo_scope": "self",
                "juminhyo_copies": 1 + i % 3, "juminhyo_purpose": "pension",
                "household": [{"name": "山田\u3000花子", "birth_date": "1987-09-12", "relationship": "spouse"}]}
        app = Application.create(list(procedures), data, Source.CARD, actor="kiosk:test", channel="kiosk",
                                 sources={"juminhyo_copies": "typed"})
        app.transition(State.SUBMITTED, actor="kiosk:test")
        app.transition(State.PRINTED, actor="kiosk:test")
        store.save(app)
        confirm(db, app, actor="clerk:test")
        apps.append(app)
    return apps


def outbox_rows(db) -> list[dict]:
    return list(db.query("SELECT * FROM outbox ORDER BY id"))


def forward_entries(db, result: str | None = None) -> list[dict]:
    sql = "SELECT * FROM exchange_log WHERE purpose = 'forward'"
    return list(db.query(sql + (" AND result = ?" if result else "") + " ORDER BY seq", [result] if result else []))

