"""Fixtures in the style of Flask's tutorial: a fresh database and config per test."""
from __future__ import annotations

import os

import pytest

from core.config import load_config
from tests.helpers import OUTPUT, ROOT, LiveServer, write_config

# Each area keeps its fixtures (daemons, devices, browsers) in its own plugin module.
pytest_plugins = [
    "tests.fixtures_browser",
    "tests.fixtures_cards",
    "tests.fixtures_forwarding",
    "tests.fixtures_printing",
    "tests.fixtures_kiosk",
    "tests.fixtures_prereg",
    "tests.fixtures_counter",
    "tests.fixtures_postgres",
]


def test_overrides(tmp_path, engine_storage: dict | None = None, /, **sections: dict) -> dict[str, dict]:
    """Config values that keep a test's files inside its own temporary folder (`engine_storage`:
    the engine's [storage], tests.fixtures_postgres's `storage_overrides`; the `overrides` fixture
    passes it), each of `sections` merged over them."""
    values = {
        "storage": {"path": str(tmp_path / "var" / "madoguchi.db"), **(engine_storage or {})},
        "keys": {"dir": str(tmp_path / "var" / "keys")},
        "devices": {"pdf_folder": str(tmp_path / "var" / "printed"),
                    "emulator_persona": str(ROOT / "hardware/cards/personas/mynumber_yamada.toml")},
        "backend": {"folder": str(tmp_path / "var" / "outbox")},
        "backup": {"folder": str(tmp_path / "var" / "backups")},
        "site": {"folder": str(DEMO_SITE)},
    }
    for section, keys in sections.items():
        values.setdefault(section, {}).update(keys)
    return values


class Overrides:
    """`overrides(**sections)`: test_overrides in `folder` (the test's tmp_path) on the test's
    storage engine: the database `db` and `config` use."""

    def __init__(self, folder, storage: dict):
        self.folder, self.storage = folder, storage

    def __call__(self, **sections: dict) -> dict[str, dict]:
        return test_overrides(self.folder, self.storage, **sections)


@pytest.fixture
def overrides(tmp_path, storage_overrides) -> Overrides:
    """For a fixture or test that makes a config of its own."""
    return Overrides(tmp_path, storage_overrides)


DEMO_SITE = ROOT / "sites" / "demo"


@pytest.fixture(autouse=True)
def demo_site():
    """Every test starts with the demo's site folder active (as `create_app` and the CLI make it),
    whatever an earlier test activated."""
    from core.site import activate, load_site
    site = load_site(DEMO_SITE)
    activate(site)
    yield site
    activate(site)      # a test that activated another site leaves the demo's to the next module's fixtures


@pytest.fixture
def config(tmp_path, overrides):
    return load_config(ROOT / "config.toml", overrides=overrides(), base_dir=tmp_path)


@pytest.fixture
def config_file(tmp_path, overrides):
    """The same settings as `config`, as a file for subprocesses (MADOGUCHI_CONFIG)."""
    return write_config(tmp_path / "config.toml", overrides())


@pytest.fixture
def db(config):
    from core.store.db import open_from_config
    database = open_from_config(config)
    yield database
    database.conn.close()


@pytest.fixture
def app(config):
    from web import create_app
    flask_app = create_app(config)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(config_file, monkeypatch):
    """click's CliRunner for the real `madoguchi` group, with the test's config."""
    from click.testing import CliRunner

    from core.cli import main
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(config_file))

    class Runner:
        def invoke(self, *args, **kw):
            return CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)
    return Runner()


@pytest.fixture
def live_server(config_file):
    """Start `madoguchi serve` (all surfaces) as a real process; `live_server.url`."""
    servers = []

    def start(surface="all"):
        s = LiveServer(config_file, surface)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def output_dir():
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


os.environ.setdefault("MADOGUCHI_TESTING", "1")
