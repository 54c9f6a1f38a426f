"""The kiosk surface (Flask blueprint, templates and logic side by side)."""
