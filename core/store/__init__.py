"""Storage: SQLite through sqlite-utils. Each table is owned by one module, which also owns
its migration set; `core.store.db.migrate` applies every set."""
