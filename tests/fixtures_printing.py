"""Fixtures for the printing tests (daemons, devices)."""
