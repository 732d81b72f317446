"""Lists that `workbench` prints, read without SQLAlchemy when the database allows (start-up time).

See store/quick.py: a current SQLite database is read with sqlite3; anything else takes the normal
path, which opens (creates, migrates) the workspace first. Both give the same rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.config import Settings
from workbench.store import quick

if TYPE_CHECKING:
    from workbench.store.datasets import DatasetInfo


def list_datasets(settings: Settings) -> list[quick.DatasetRow] | list[DatasetInfo]:
    """Every dataset, oldest first."""
    found = quick.list_datasets(settings)
    if found is not None:
        return found
    from workbench.service.datasets import list_datasets as listed
    from workbench.service.workspace import open_workspace

    store = open_workspace(settings)
    try:
        return listed(store)
    finally:
        store.close()
