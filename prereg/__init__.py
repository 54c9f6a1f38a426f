"""The prereg surface (Flask blueprint, templates and logic side by side)."""
