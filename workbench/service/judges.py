"""Judges: a configured model asked which of two columns' answers is better, in both orders.
(Owned by issue #16's judge work.)"""

from __future__ import annotations

from workbench.domain.judging import Suggestion
from workbench.store.db import Store


def suggestions(store: Store, dataset_id: str, run_ids: dict[str, int],
                seqs: list[int] | None = None) -> dict[int, list[Suggestion]]:
    """Record seq -> the latest judge's suggestion for each judged pair among these columns
    (column id -> run), for these records (None: all). Records no judge looked at are left out."""
    return {}
