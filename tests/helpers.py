"""Small helpers shared by tests."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
# Screenshots, PDFs and pictures tests make, to look at; a second test run at the same time (the
# PostgreSQL pass of scripts/run-tests) writes its own beside them.
OUTPUT = Path(os.environ.get("MADOGUCHI_TEST_OUTPUT") or ROOT / "tests" / "output")

# The 住民異動届's answers beyond the move itself, for a Japanese national who is the head of
# household and gives notice themself (the commonest case; tests of the others set their own).
MOVE_IN_EXTRAS = {"relationship_to_head": "head", "nationality_kind": "japanese",
                  "honseki": "北海道札幌市中央区北１条西２丁目１番地", "hittousha": "山田\u3000太郎",
                  "notifier_type": "self"}


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


def write_config(path: Path, values: dict[str, dict]) -> Path:
    lines = []
    for section, keys in values.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def own_connection(config):
    """The test's database through a connection of its own, on either engine, unmigrated and in
    autocommit: as another process, or someone with access to the database, would reach it."""
    if config.storage.engine == "postgresql":
        from core.store import postgres
        return postgres.connect(config.storage.url, None, config.storage.busy_timeout_ms)
    from core.store.db import connect
    return connect(config.path(config.storage.path))


def tamper(config, sql: str, params=()) -> None:
    """Change the database behind the service's back (`?` placeholders), as someone with access to it could."""
    db = own_connection(config)
    try:
        db.execute(sql, params)
    finally:
        db.conn.close()


def everything_stored(db) -> str:
    """Every row of every table as text, on either engine: to assert a value is stored nowhere."""
    return "\n".join(repr(row) for table in db.table_names() for row in db.query(f'SELECT * FROM "{table}"'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def madoguchi(*args, config_file: Path | None = None, input: str | None = None, cwd=None,
              timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real `madoguchi` console script, as a user or another check would."""
    env = dict(os.environ)
    if config_file:
        env["MADOGUCHI_CONFIG"] = str(config_file)
    exe = Path(sys.executable).parent / "madoguchi"
    return subprocess.run([str(exe), *args], input=input, capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout, check=check)


class LiveServer:
    """`madoguchi serve` as a subprocess on a free port (datasette-style live server)."""

    def __init__(self, config_file: Path, surface: str = "all", cwd: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, MADOGUCHI_CONFIG=str(config_file), PYTHONUNBUFFERED="1")
        exe = Path(sys.executable).parent / "madoguchi"
        self.log_path = (cwd or config_file.parent) / f"serve-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(exe), "serve", "--surface", surface, "--port", str(self.port)],
                                     env=env, cwd=cwd or config_file.parent, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
