"""How the kiosk reaches its devices and the other areas' services: one small seam each.

Everything goes through the contracts in docs/architecture.md. Each device module is
imported when first used, so the kiosk pages load without OpenCV, pyscard or pycups being
imported, and a test can hand the kiosk a `Devices` whose parts it drives itself.
"""
from __future__ import annotations

from typing import Any


class Devices:
    def __init__(self, config):
        self.config = config

    # --- card reader (hardware.cards) ---
    def reader(self):
        """A reader: `.tries_left()` and `.read(pin, allow_last_try=False)`."""
        from hardware.cards import open_reader
        return open_reader(self.config)

    def reader_status(self) -> str:
        """"ready", "no_reader" or "no_service" (hardware.cards.reader_status): uses no try."""
        from hardware.cards import reader_status
        return reader_status(self.config)

    def card_monitor(self):
        """`.events` queue of {"type": "inserted"|"removed"}; `.stop()`."""
        from hardware.cards import CardMonitor
        return CardMonitor(self.config)

    # --- camera (hardware.camera) ---
    def scanner(self):
        """A started scanner: `.events` queue, `.inject(text)`, `.stop()`. With camera = "none"
        it runs no thread, and `inject` still delivers codes (a demo, a handheld reader)."""
        from hardware.camera import open_scanner
        return open_scanner(self.config)

    # --- printing (printing, hardware.printer) ---
    def render(self, json_form: dict[str, Any], application_id: str, slip: dict[str, str] | None = None) -> bytes:
        """Every form of the visit, then the slip (受付票) when its values are given."""
        from printing import render_application
        return render_application(json_form, application_id, slip=slip)

    def printer(self):
        from hardware.printer import open_printer
        return open_printer(self.config)

