"""Curation: annotate an answer or a record (golden, judgement, correction, preference, note), undo, the log."""

from __future__ import annotations

import functools
import getpass
from typing import Any

from workbench.store import Store
from workbench.store import annotations as stored


@functools.cache  # asked on every request while accounts are off; the OS user doesn't change
def local_author() -> str:
    """Who annotates when nobody says: the user running the server."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def annotate(store: Store, *, dataset_id: str, record_id: str, field: str, value: Any, author: str | None = None,
             run_id: int | None = None, model_id: str = "") -> dict[str, Any]:
    """Saved at once; returns the event with the state it produced (the live socket tells every page).
    An answer is named by its run (``run_id``) or by a model (its latest run on the dataset)."""
    return stored.annotate(store, dataset_id=dataset_id, record_id=record_id, run_id=run_id, model_id=model_id,
                           field=field, value=value, author=author or local_author())


def undo(store: Store, *, dataset_id: str, author: str | None = None, event_id: int | None = None,
         others: bool = True) -> dict[str, Any]:
    """Undo an event, or by default the author's latest change in the dataset; ``others=False``
    refuses an event someone else made (an annotator's undo with accounts on)."""
    return stored.undo(store, dataset_id=dataset_id, author=author or local_author(), event_id=event_id, others=others)


def history(store: Store, dataset_id: str, record_id: str | None = None) -> list[dict[str, Any]]:
    """The log, newest first: who, when, what, before and after."""
    return stored.history(store, dataset_id, record_id)
