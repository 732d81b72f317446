"""Preference pairs out (TRL's conversational preference format, domain/preference_pairs.py): from
people's preferences and corrections among the exported columns, and the judge's consistent
verdicts only when asked for. Streamed a page of records at a time: only the records with a
preference or a correction (and, with the judge, those it judged) are read."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from workbench.domain.columns import shown_preference
from workbench.domain.curated_exports import chat_prompt
from workbench.domain.preference_pairs import Messages, record_pairs
from workbench.domain.tasks import Task
from workbench.grid.views import iter_record_results
from workbench.service.judges import suggestions
from workbench.store.annotations import answer_states, record_notes
from workbench.store.annotator_labels import stated_seqs
from workbench.store.db import Store

BATCH = 500


def preference_rows(store: Store, dataset_id: str, run_ids: dict[str, int], *,
                    judge: bool = False) -> Iterator[dict[str, Any]]:
    """Every preference pair among these columns (column id -> run), record by record."""
    from workbench.service.exports import first_task  # exports imports this module

    tasks: dict[str, Task] = {column: first_task(store, {"": run_id}) for column, run_id in run_ids.items()}
    judged = suggestions(store, dataset_id, run_ids) if judge else {}
    seqs = sorted(set(stated_seqs(store, dataset_id)) | set(judged))
    column_of = {run_id: column for column, run_id in reversed(run_ids.items())}  # a run's first column
    items = iter_record_results(store, dataset_id, run_ids, with_data=True, batch=BATCH, seqs=seqs)
    while page := list(islice(items, BATCH)):
        page_seqs = [item.seq for item in page]
        notes = record_notes(store, dataset_id, page_seqs)
        states = answer_states(store, dataset_id, page_seqs)
        for item in page:
            data = item.data or {}
            prompts: dict[str, Messages | None] = {}

            def prompt(column: str, data: dict = data, prompts: dict = prompts) -> Messages | None:
                if column not in prompts:
                    prompts[column] = chat_prompt(tasks[column], data)
                return prompts[column]

            fixes = {column_of[s.run_id]: s.correction for s in states.get(item.seq, [])
                     if s.correction is not None and s.run_id in column_of}
            yield from record_pairs(
                item.record_id, prompt, item.outputs(),
                preference=shown_preference(notes.get(item.seq, {}).get("preference"), run_ids),
                corrections=fixes, suggestions=judged.get(item.seq, ()))
