"""Fixtures for the prereg tests."""
from __future__ import annotations

import pytest

from tests.prereg_helpers import Walker


@pytest.fixture
def walker(client):
    """The prereg wizard through Flask's test client, in Japanese (as a browser without JS)."""
    return Walker(client, "ja")
