"""The counter surface (Flask blueprint, templates and logic side by side)."""
