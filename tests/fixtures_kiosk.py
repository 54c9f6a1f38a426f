"""Fixtures for the kiosk tests: an app with the kiosk surface and its emulated devices."""
from __future__ import annotations

import pytest

from core.config import load_config
from tests.helpers import ROOT
from tests.kiosk_helpers import Kiosk


@pytest.fixture
def emulated_cards():
    """A fresh in-process emulated reader (the embedded default) for each test."""
    from hardware.cards import direct
    direct.forget_all()
    yield
    direct.forget_all()


@pytest.fixture
def kiosk_app(tmp_path, emulated_cards, overrides):
    """The kiosk surface alone, as on a kiosk; no device service runs unless a test starts it."""
    from web import create_app

    def make(**sections):
        with_counter = sections.pop("with_counter", False)
        config = load_config(ROOT / "config.toml", overrides=overrides(**sections), base_dir=tmp_path)
        app = create_app(config, ["kiosk", "counter"] if with_counter else "kiosk")
        app.config["TESTING"] = True
        return app
    return make


@pytest.fixture
def kiosk(kiosk_app):
    """A visitor at a kiosk with the emulated card reader (no card on it) and the pdf-folder printer."""
    return Kiosk(kiosk_app(devices={"emulator_persona": ""}))
