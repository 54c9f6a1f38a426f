"""How the kiosk reaches its devices and the other areas' services: one small seam each.

Everything goes through the contracts in docs/architecture.md. The modules are imported
when first used, so the kiosk pages load on a machine without a camera or a card reader,
and a test can hand the kiosk a `Devices` whose parts it drives itself.
"""
from __future__ import annotations

import importlib
from typing import Any

from core.errors import MadoguchiError


class DeviceUnavailable(MadoguchiError):
    code = "device_unavailable"


def _module(name: str, code: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            raise DeviceUnavailable(f"{name} is not installed", code=code) from None
        raise


class Devices:
    def __init__(self, config):
        self.config = config

    # --- card reader (hardware.cards) ---
    def reader(self):
        """A reader: `.tries_left()` and `.read(pin, allow_last_try=False)`."""
        return _module("hardware.cards", "no_reader").open_reader(self.config)

    def card_monitor(self):
        """`.events` queue of {"type": "inserted"|"removed"}; `.stop()`."""
        return _module("hardware.cards", "no_reader").CardMonitor(self.config)

    # --- camera (hardware.camera) ---
    def scanner(self):
        """A started scanner: `.events` queue, `.inject(text)`, `.stop()`. With camera = "none"
        it runs no thread, and `inject` still delivers codes (a demo, a handheld reader)."""
        return _module("hardware.camera", "no_camera").open_scanner(self.config)

    # --- printing (printing, hardware.printer) ---
    def render(self, json_form: dict[str, Any], application_id: str) -> bytes:
        return _module("printing", "printing_unavailable").render_application(json_form, application_id)

    def printer(self):
        return _module("hardware.printer", "no_queue").open_printer(self.config)

    # --- pre-registration (core.sealed) ---
    def open_prereg(self, token_text: str, db) -> tuple[str, dict[str, Any]]:
        return _module("core.sealed", "prereg_unavailable").open_prereg(self.config, token_text, db)
