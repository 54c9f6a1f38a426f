"""The counter surface (Flask blueprint, templates and logic side by side)."""
from core.store.db import register_migrations

register_migrations("counter.figures")
