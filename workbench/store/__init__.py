"""Storage: schema, migrations and queries (SQLite by default, PostgreSQL by URL)."""

from workbench.store.db import Store, open_store

__all__ = ["Store", "open_store"]
