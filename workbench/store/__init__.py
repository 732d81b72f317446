"""Storage: schema, migrations and queries (SQLite by default, PostgreSQL by URL)."""

# No `from __future__ import annotations` here: it would bind the name `annotations` in this
# package, so `from workbench.store import annotations` would get __future__'s feature, not the module.
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.store.db import Store, open_store

__all__ = ["Store", "open_store"]


def __getattr__(name: str) -> Any:
    """``Store`` and ``open_store`` load SQLAlchemy (~0.3 s) when first used, not when a light
    submodule (``workbench.store.quick``, read by `workbench datasets`) is imported."""
    if name in __all__:
        from workbench.store import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
