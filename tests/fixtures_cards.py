"""Fixtures for the cards tests (daemons, devices)."""
