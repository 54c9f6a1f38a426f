"""Storage: SQLite through sqlite-utils, or PostgreSQL through core.store.postgres (the same
calls). Each table is owned by one module, which also owns its migration set;
`core.store.db.migrate` applies every set."""
