"""Records with results and their annotations, as the curation exports and metrics read them."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from workbench.domain.annotations import golden_answer, reference_label
from workbench.domain.curated_exports import CuratedItem
from workbench.store.annotations import answer_states, record_notes
from workbench.store.datasets import iter_records
from workbench.store.db import Store
from workbench.store.views import iter_record_results

BATCH = 1000


def iter_curated(store: Store, dataset_id: str, run_ids: dict[str, int], *, with_data: bool = True,
                 reference: str = "label") -> Iterator[CuratedItem]:
    """Every record with each model's result, its reference answer ("label": golden, else a
    correction; "golden": golden only), preference and note. Annotations come a page at a time."""
    pick = reference_label if reference == "label" else golden_answer
    items = iter_record_results(store, dataset_id, run_ids, with_data=with_data, batch=BATCH)
    while True:
        page = list(islice(items, BATCH))
        if not page:
            return
        seqs = [item.seq for item in page]
        states = answer_states(store, dataset_id, seqs)
        notes = record_notes(store, dataset_id, seqs)
        for item in page:
            chosen = pick(states.get(item.seq, []))
            note = notes.get(item.seq, {})
            yield CuratedItem(
                record_id=item.record_id, title=item.title, subtitle=item.subtitle, data=item.data,
                results=item.results, reference=chosen[0] if chosen else None,
                provenance=chosen[1] if chosen else None, preference=note.get("preference"),
                note=note.get("note"),
            )


def golden_examples(store: Store, dataset_id: str, limit: int | None = None,
                    record_ids: list[str] | None = None) -> list[tuple[str, dict, dict]]:
    """(record id, record, golden answer) for few-shot prompts, in record order."""
    states = answer_states(store, dataset_id, golden_only=True)
    wanted = set(record_ids) if record_ids is not None else None
    examples: list[tuple[str, dict, dict]] = []
    by_seq = {}
    for seq, answers in states.items():
        chosen = golden_answer(answers)
        if chosen is not None:
            by_seq[seq] = chosen[0]
    if not by_seq:
        return []
    for record in iter_records(store, dataset_id):
        if record.seq in by_seq and (wanted is None or record.record_id in wanted):
            examples.append((record.record_id, record.data, by_seq[record.seq]))
            if limit is not None and len(examples) >= limit:
                break
    return examples
